"""From the lines of PDF pages to blocks: paragraphs, headings, no repeated page furniture.

A PDF holds positioned lines, not paragraphs or headings. Paragraphs are rebuilt from
punctuation and capitals; headings come from the outline (bookmarks) when the file has
one, else from type: lines clearly larger than the body text, or bold numbered lines
("2.1 Délais"), ranked by size. Running headers and footers (the same line at the top
or bottom of most pages, page numbers) are dropped: repeated in every chunk they would
only add noise to search.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass

from autan.documents.extraction.model import Block, HeadingPath

Bookmarks = dict[int, list[tuple[int, str]]]
Opens = dict[int, list[tuple[int, str]]]

_SENTENCE_END = re.compile(r"[.!?:;»\"”)]$")
_STARTS_PARAGRAPH = re.compile(r"^(?:[A-ZÀ-ÖØ-ÞŒ0-9«\"“]|[-–—•▪◦●*·] |\(?[a-z0-9]{1,3}[.)] )")
_BULLET = re.compile(r"^(?:[-–—•▪◦●*·]|\(?[a-z0-9]{1,3}[.)])\s")
_KEY = re.compile(r"[\W_]+")
_DIGITS = re.compile(r"\d+")
_PAGE_NUMBER = re.compile(
    r"^(?:page\s*)?[-–]?\s*\d{1,4}\s*[-–]?(?:\s*(?:/|sur|of)\s*\d{1,4})?$", re.IGNORECASE
)
# "2.", "2.1", "IV.", "A.", "Article 3", "Chapitre 2", "Annexe 1": numbered titles.
_NUMBERED = re.compile(
    r"^(?:\d{1,2}(?:\.\d{1,2})*\.?|[IVXLC]{1,6}\.|[A-Z]\.|"
    r"(?:article|chapitre|titre|section|annexe|partie)\s+\S+)\s+\S",
    re.IGNORECASE,
)
# Lines at the top or bottom of a page that may be running headers or footers.
FURNITURE_LINES = 2
MAX_HEADING_CHARS = 150
MAX_HEADING_LEVELS = 4
# Headings must stand out: at least this much larger than the body text (points, ratio).
MIN_SIZE_STEP = 1.0
MIN_SIZE_RATIO = 1.15
# More heading-looking lines than this share means type does not mark structure here
# (a slide deck exported to PDF, a poster).
MAX_HEADING_SHARE = 0.25
MIN_HEADINGS_ALLOWED = 8  # a short note may be a third headings


@dataclass(slots=True)
class Line:
    """One line of a page: normalised text and the type it is set in (0 when unknown)."""

    text: str
    size: float = 0.0
    bold: bool = False


def _key(text: str) -> str:
    return _KEY.sub("", text.casefold())


def _furniture_key(text: str) -> str:
    return _key(_DIGITS.sub("#", text))


def body_size(pages: list[list[Line]]) -> float:
    """The type size of most of the text (by characters), 0 when unknown."""
    sizes: Counter[float] = Counter()
    for lines in pages:
        for line in lines:
            if line.size:
                sizes[round(line.size * 2) / 2] += len(line.text)
    return sizes.most_common(1)[0][0] if sizes else 0.0


def drop_furniture(pages: list[list[Line]]) -> list[list[Line]]:
    """Pages without page numbers and without lines repeated at the top or bottom of most.

    Lines set larger than the body text are never furniture: a chapter title at the top
    of many pages ("Chapitre 3") must stay.
    """
    body = body_size(pages)

    def edges(lines: list[Line]) -> set[int]:
        indices = [
            index
            for index, line in enumerate(lines)
            if line.text and not (body and line.size > body + MIN_SIZE_STEP)
        ]
        return set(indices[:FURNITURE_LINES] + indices[-FURNITURE_LINES:])

    counts: Counter[str] = Counter()
    for lines in pages:
        counts.update({_furniture_key(lines[index].text) for index in edges(lines)} - {""})
    threshold = max(3, len(pages) // 2 + 1)
    repeated = {key for key, count in counts.items() if count >= threshold}
    cleaned = []
    for lines in pages:
        edge = edges(lines)
        cleaned.append(
            [
                line
                for index, line in enumerate(lines)
                if index not in edge
                or not (_PAGE_NUMBER.match(line.text) or _furniture_key(line.text) in repeated)
            ]
        )
    return cleaned


def _find(lines: list[Line], start: int, title: str) -> tuple[int, int] | None:
    """Lines [first, end) holding a bookmark's title at or after `start`, if it is there."""
    key = _key(title)
    if not key:
        return None
    for first in range(start, len(lines)):
        line_key = _key(lines[first].text)
        if not line_key:
            continue
        if line_key == key:
            return first, first + 1
        if len(line_key) >= 6 and key.startswith(line_key):
            # A long title wrapped over several lines.
            seen, end = line_key, first + 1
            while end < len(lines) and seen != key:
                following = _key(lines[end].text)
                if not key.startswith(seen + following):
                    break
                seen += following
                end += 1
            if seen == key:
                return first, end
    return None


def bookmark_headings(lines: list[Line], marks: list[tuple[int, str]]) -> tuple[Opens, set[int]]:
    """Where each bookmark of the page opens, and which lines are the titles' own text."""
    opens: Opens = defaultdict(list)
    heading_lines: set[int] = set()
    cursor = 0
    for level, title in marks:
        found = _find(lines, cursor, title)
        if found is None:
            opens[cursor].append((level, title))  # not in the text: it starts at this point
            continue
        opens[found[0]].append((level, title))
        heading_lines.update(range(*found))
        cursor = found[1]
    return opens, heading_lines


class TypeHeadings:
    """Headings recognised by type when the PDF has no outline."""

    def __init__(self, pages: list[list[Line]]) -> None:
        self.body = body_size(pages)
        candidates = [line for lines in pages for line in lines if self._candidate(line)]
        total = sum(1 for lines in pages for line in lines if line.text)
        larger = sorted({round(c.size) for c in candidates if self._larger(c)}, reverse=True)
        self.levels = {size: min(rank, MAX_HEADING_LEVELS) for rank, size in enumerate(larger, 1)}
        allowed = max(MAX_HEADING_SHARE * total, MIN_HEADINGS_ALLOWED)
        self.enabled = bool(candidates) and len(candidates) <= allowed

    def _larger(self, line: Line) -> bool:
        return line.size >= max(self.body + MIN_SIZE_STEP, self.body * MIN_SIZE_RATIO)

    def _candidate(self, line: Line) -> bool:
        text = line.text
        if not self.body or not line.size or not 2 <= len(text) <= MAX_HEADING_CHARS:
            return False
        if text.endswith((",", ";")) or not any(char.isalpha() for char in text):
            return False
        if self._larger(line):
            return True
        numbered = line.bold and bool(_NUMBERED.match(text)) and not text.endswith(".")
        return numbered and line.size >= self.body - 0.5

    def level(self, line: Line) -> int | None:
        if not self.enabled or not self._candidate(line):
            return None
        if self._larger(line):
            return self.levels.get(round(line.size), MAX_HEADING_LEVELS)
        return min(len(self.levels) + 1, MAX_HEADING_LEVELS + 1)

    def page(self, lines: list[Line]) -> tuple[Opens, set[int]]:
        """Headings of one page; a title set over two lines of the same type is one."""
        opens: Opens = defaultdict(list)
        heading_lines: set[int] = set()
        previous: tuple[int, int] | None = None  # (line index, level) of the last title
        for index, line in enumerate(lines):
            level = self.level(line)
            if level is None:
                previous = None
                continue
            heading_lines.add(index)
            if previous is not None and previous[1] == level and previous[0] == index - 1:
                start = max(opens)
                title_level, title = opens[start][-1]
                opens[start][-1] = (title_level, f"{title} {line.text}")
            else:
                opens[index].append((level, line.text))
            previous = (index, level)
        return opens, heading_lines


def _is_break(line: str, following: str) -> bool:
    """Whether a paragraph ends between two lines of a page's text layer."""
    if not line or not following:
        return True
    if _BULLET.match(following):
        return True
    return bool(_SENTENCE_END.search(line) and _STARTS_PARAGRAPH.match(following))


def _append(paragraph: list[str], line: str) -> None:
    """Add a line to a paragraph, joining a word that a hyphen cut at the line's end."""
    previous = paragraph[-1] if paragraph else ""
    if len(previous) > 1 and previous[-1] == "-" and previous[-2].isalpha() and line[0].islower():
        paragraph[-1] = previous[:-1] + line
    else:
        paragraph.append(line)


def page_blocks(
    lines: list[Line], page: int, headings: tuple[Opens, set[int]], path: HeadingPath
) -> list[Block]:
    """Blocks of one page: paragraphs rebuilt from lines, headings where they open."""
    opens, heading_lines = headings
    blocks: list[Block] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            blocks.append(Block(" ".join(paragraph), page, path.current, "text"))
            paragraph.clear()

    for index, line in enumerate(lines):
        if index in opens:
            flush()
            for level, title in opens[index]:
                blocks.append(Block(title, page, path.enter(level, title), "heading"))
        if index in heading_lines:
            continue
        if line.text:
            _append(paragraph, line.text)
        following = lines[index + 1].text if index + 1 < len(lines) else ""
        if _is_break(line.text, following):
            flush()
    flush()
    for level, title in opens.get(len(lines), []):
        blocks.append(Block(title, page, path.enter(level, title), "heading"))
    return blocks


def document_blocks(pages: list[list[Line]], marks: Bookmarks) -> list[Block]:
    """Blocks of every page in order, headings from the bookmarks or else from type."""
    pages = drop_furniture(pages) if len(pages) >= 3 else pages
    by_type = None if marks else TypeHeadings(pages)
    path = HeadingPath()
    blocks: list[Block] = []
    for index, lines in enumerate(pages):
        if by_type is None:
            headings = bookmark_headings(lines, marks.get(index, []))
        else:
            headings = by_type.page(lines)
        blocks.extend(page_blocks(lines, index + 1, headings, path))
    return blocks
