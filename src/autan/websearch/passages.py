"""Queries from a question, and the passage of a page that answers it.

The embedded model is small: rewriting questions with it is slow and unreliable, so the
rewrite is deterministic (the question, then its content words). Passages are verbatim
windows of the page's text, so that every cited passage really is on the cited page.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

PASSAGE_CHARS = 700
MAX_LINKS = 3
_WORD = re.compile(r"[\w'’-]+", re.UNICODE)
_LINK = re.compile(r"https?://[^\s<>\"'`()\[\]{}]+", re.IGNORECASE)
_STOP_WORDS = """
    a à au aux avec ce ces cette comment dans de des du elle en est et être faire faut il ils je
    la le les leur mais me mes mon ne ni nous on ou où par pas pour qu que quel quelle quelles
    quels qui quoi sa se ses si son sont sur ta te tes ton tu un une vos votre vous y est-ce
    qu'est-ce puis-je dois-je peut-on peux-je combien quand pourquoi mon ma the a an and are as
    at be by can do does for from how i in is it of on or that this to was what when where which
    who why will with my me you your
"""


def fold(text: str) -> str:
    """Lower case without accents, for matching words."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_STOP = frozenset(fold(word) for word in _STOP_WORDS.split())


def terms(text: str) -> list[str]:
    """The content words of a text, folded, in order, without repeats."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(fold(text)):
        word = word.strip("'’-")
        if len(word) > 1 and word not in _STOP and not word.isdigit():
            seen.setdefault(word, None)
    return list(seen)


def queries_for(question: str, limit: int = 2) -> list[str]:
    """The question itself (links taken out), then its content words when they differ."""
    plain = " ".join(_LINK.sub(" ", question).split())[:400]
    found = [plain] if plain else []
    words = " ".join(terms(plain)[:10])
    if words and words != fold(plain):
        found.append(words)
    return found[:limit]


def links_in(text: str) -> list[str]:
    """The web links pasted in a message, in order, without repeats."""
    found: dict[str, None] = {}
    for match in _LINK.findall(text):
        found.setdefault(match.rstrip(".,;:!?»"), None)
    return list(found)[:MAX_LINKS]


def _windows(text: str, size: int) -> list[str]:
    """Consecutive runs of whole lines of at most about `size` characters."""
    windows: list[str] = []
    current = ""
    for line in (" ".join(line.split()) for line in text.splitlines()):
        if not line:
            continue
        if current and len(current) + len(line) + 1 > size:
            windows.append(current)
            current = ""
        current = f"{current} {line}".strip() if current else line
        while len(current) > size:
            cut = current.rfind(" ", 0, size)
            cut = cut if cut > size // 2 else size
            windows.append(current[:cut].strip())
            current = current[cut:].strip()
    if current:
        windows.append(current)
    return windows


def best_passage(text: str, question: str, size: int = PASSAGE_CHARS) -> str:
    """The window of the page that shares most content words with the question."""
    windows = _windows(text, size)
    if not windows:
        return ""
    wanted = set(terms(question))
    if not wanted:
        return windows[0]

    # The first of the best windows: pages put the essential first.
    return max(windows, key=lambda window: len(wanted.intersection(terms(window))))


def site_of(url: str) -> str:
    """The host of a URL without `www.`: what a reader recognises."""
    host = urlsplit(url).hostname or ""
    return host.removeprefix("www.")
