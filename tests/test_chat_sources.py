"""What the model is given and what it may say: relevant sources only, no recited prompt."""

from __future__ import annotations

import uuid

import pytest

from autan.chat.leakguard import LeakGuard
from autan.chat.prompting import system_prompt
from autan.retrieval.grounding import INSTRUCTIONS, grounded_messages, relevant, sources_of
from autan.retrieval.search import SearchHit


def hit(score: float, content: str, method: str = "hybrid") -> SearchHit:
    return SearchHit(
        chunk_id=int(score * 1000),
        document_id=uuid.uuid4(),
        collection_id=None,
        document_name="circulaire.pdf",
        content=content,
        page=3,
        pages="3",
        headings="",
        position=0,
        score=score,
        method=method,
    )


def test_one_relevant_passage_is_not_drowned_in_unrelated_ones() -> None:
    found = [
        hit(4.2, "Le télétravail est limité à trois jours."),
        hit(0.3, "La cantine ouvre à midi."),
        hit(3.1, "Trois jours de télétravail au plus par semaine."),
        hit(-0.8, "Le parking est fermé le dimanche."),
    ]
    kept = relevant(found, 0.5)
    assert [h.score for h in kept] == [4.2, 3.1]
    # Numbered after the cut: [2] in the answer is the second source shown.
    assert [s["number"] for s in sources_of(kept)] == [1, 2]
    assert (
        "[2] circulaire.pdf"
        in grounded_messages([{"role": "user", "content": "?"}], kept)[1]["content"]
    )
    assert relevant(found, 0) == found  # the setting's 0 keeps every passage
    whole = [hit(1.0, "a", "whole"), hit(1.0, "b", "whole")]
    assert relevant(whole, 0.9) == whole  # whole documents are given, not searched


@pytest.mark.parametrize("lang", ["fr", "en"])
@pytest.mark.parametrize("piece", [1, 3, 17])
def test_recited_instructions_never_reach_the_reader(lang: str, piece: int) -> None:
    hidden = f"{system_prompt(lang)}\n\n{INSTRUCTIONS[lang]}"
    genuine = "Le délai est de deux mois [1]. Réponds uniquement si tu veux."
    recited = f"{INSTRUCTIONS[lang]}\n{genuine}"
    guard = LeakGuard(hidden)
    shown = "".join(guard.feed(recited[i : i + piece]) for i in range(0, len(recited), piece))
    shown += guard.flush()
    assert shown.strip() == genuine
    assert guard.removed >= 3
    # An answer that recites nothing passes through whole, piece by piece.
    clean = LeakGuard(hidden)
    passed = [clean.feed(genuine[i : i + piece]) for i in range(0, len(genuine), piece)]
    assert "".join(passed) + clean.flush() == genuine and clean.removed == 0
