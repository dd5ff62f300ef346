"""Summaries of documents longer than the model can read at once (map, then reduce).

Each part of the document that fits the context is summarised on its own; the answer is
then written from those partial summaries, numbered like any other sources, and it begins
by saying how the document was read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from autan.accounts.principal import Principal
from autan.chat.prompting import estimate_tokens
from autan.llm.client import ModelClient
from autan.retrieval.index import pages_label
from autan.retrieval.search import SearchHit

# A part takes at most this share of the context, leaving room for its summary.
PART_SHARE = 0.5
PART_SUMMARY_TOKENS = 200
MAX_PARTS = 40

_INTENT = re.compile(r"\b(r[ée]sum|synth[èe]|summar|sum up|overview)", re.IGNORECASE)

_MAP = {
    "fr": (
        "Résume fidèlement et brièvement l'extrait de document ci-dessous, en français, en "
        "gardant les faits, chiffres, dates et obligations. N'ajoute rien."
    ),
    "en": (
        "Summarise the document excerpt below faithfully and briefly, keeping facts, figures, "
        "dates and obligations. Add nothing."
    ),
}
_PREFACE = {
    "fr": (
        "*Ce document est plus long que ce que le modèle peut lire en une fois : il a été "
        "résumé en {parts} parties, puis ces résumés ont été combinés.*\n\n"
    ),
    "en": (
        "*This document is longer than the model can read at once: it was summarised in "
        "{parts} parts, then the summaries were combined.*\n\n"
    ),
}


def wants_summary(question: str) -> bool:
    """Whether a question asks for a summary of the attached document(s)."""
    return bool(_INTENT.search(question))


def parts_of(chunks: Sequence[SearchHit], context_length: int) -> list[list[SearchHit]]:
    """Consecutive chunks grouped so that each group fits its share of the context."""
    budget = int(context_length * PART_SHARE)
    parts: list[list[SearchHit]] = []
    current: list[SearchHit] = []
    used = 0
    for chunk in chunks:
        cost = estimate_tokens(chunk.content)
        if current and (used + cost > budget or chunk.document_id != current[0].document_id):
            parts.append(current)
            current, used = [], 0
        current.append(chunk)
        used += cost
    if current:
        parts.append(current)
    return parts


async def summarise_parts(
    models: ModelClient,
    principal: Principal,
    model: str,
    chunks: Sequence[SearchHit],
    context_length: int,
    lang: str,
) -> tuple[list[SearchHit], str]:
    """One summary per part, as sources, and the sentence that says so."""
    language = "en" if lang == "en" else "fr"
    parts = parts_of(chunks, context_length)[:MAX_PARTS]
    summaries: list[SearchHit] = []
    for part in parts:
        text = "\n\n".join(c.content for c in part)
        summary = await models.complete_chat(
            principal,
            model,
            [
                {"role": "system", "content": _MAP[language]},
                {"role": "user", "content": text},
            ],
            endpoint="chat.summary",
            max_tokens=PART_SUMMARY_TOKENS,
            temperature=0.2,
        )
        summaries.append(
            replace(
                part[0],
                content=summary.strip() or text[:400],
                pages=pages_label([c.page for c in part if c.page is not None]),
                method="summary",
            )
        )
    return summaries, _PREFACE[language].format(parts=len(parts))
