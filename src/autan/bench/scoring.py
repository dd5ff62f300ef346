"""Scores of one answer: contains-gold, token F1, abstention, language, prompt leaks.

The normalisation follows SQuAD's evaluation script, adapted to French: lower case, accents
and punctuation removed, French and English articles dropped, whitespace collapsed.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable

_ARTICLES = re.compile(r"\b(le|la|les|l|un|une|des|du|de|d|au|aux|the|a|an)\b", flags=re.IGNORECASE)
_PUNCTUATION = re.compile(r"[^\w\s]")
# Citation marks like "[1]" are how grounded answers point at sources, not answer words.
_CITATIONS = re.compile(r"\[\d+(?:\s*[,;]\s*\d+)*\]")

# How answers say the documents do not hold the answer (compared after normalisation).
_ABSTENTIONS = (
    "ne contiennent pas",
    "ne contient pas",
    "ne mentionnent pas",
    "ne mentionne pas",
    "ne précisent pas",
    "ne précise pas",
    "ne donnent pas",
    "ne donne pas",
    "ne fournissent pas",
    "ne fournit pas",
    "ne permettent pas",
    "ne permet pas",
    "ne parlent pas",
    "ne parle pas",
    "ne traitent pas",
    "ne répondent pas",
    "n'indiquent pas",
    "n'indique pas",
    "n'évoquent pas",
    "n'abordent pas",
    "aucune information",
    "aucune mention",
    "pas d'information",
    "pas mentionné",
    "pas précisé",
    "pas indiqué",
    "pas dans les documents",
    "pas dans les sources",
    "je ne sais pas",
    "je ne peux pas répondre",
    "impossible de répondre",
    "do not contain",
    "does not contain",
    "not mentioned",
)
# Phrases of the grounding instruction that must never reach an answer.
LEAK_MARKERS = (
    "réponds uniquement à partir",
    "cite chaque information",
    "answer only from the numbered sources",
    "réponds dans la langue de la question",
)


def strip_accents(text: str) -> str:
    """The text without diacritics (é → e, ç → c)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def normalise(text: str) -> str:
    """Lower case, no accents, punctuation, citation marks or articles; single spaces."""
    text = _CITATIONS.sub(" ", text)
    text = strip_accents(text.lower().replace("’", "'"))
    text = _PUNCTUATION.sub(" ", text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def contains_gold(answer: str, golds: Iterable[str]) -> bool:
    """Whether the normalised answer holds any normalised gold answer as whole words."""
    said = f" {normalise(answer)} "
    return any(g and f" {g} " in said for g in (normalise(gold) for gold in golds))


def token_f1(answer: str, golds: Iterable[str]) -> float:
    """The best token F1 between the answer and any gold answer (SQuAD's definition)."""
    predicted = normalise(answer).split()
    best = 0.0
    for gold in golds:
        truth = normalise(gold).split()
        common = Counter(predicted) & Counter(truth)
        same = sum(common.values())
        if not same:
            continue
        precision, recall = same / len(predicted), same / len(truth)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def abstains(answer: str) -> bool:
    """Whether the answer says the documents do not hold the answer."""
    said = f" {normalise(answer)} "
    return any(f" {normalise(phrase)} " in said for phrase in _ABSTENTIONS)


def leaks_prompt(answer: str) -> bool:
    """Whether the answer repeats the grounding instruction."""
    said = f" {normalise(answer)} "
    return any(f" {normalise(marker)} " in said for marker in LEAK_MARKERS)
