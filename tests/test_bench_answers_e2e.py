"""The answer benchmarks' bookkeeping: the end-to-end run's citation scores on fixed rows, and
a reading-comprehension run resumed from its per-case JSON keeps only the cases planned."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.answers.data import Case
from benchmarks.answers.e2e_scoring import cited, score, summarise
from benchmarks.answers.run import _resumed

QUESTION = Case(
    "q1",
    "Paris",
    "Quelle est la capitale de la France ?",
    "Paris est la capitale de la France.",
    "Paris",
    ("Paris",),
)
# Two documents; the second holds two identical paragraphs (the upload answered the first).
DOCUMENTS = {"doc-a": ["Lyon#0"], "doc-b": ["Paris#0", "Paris#3"]}


def _result(answer: str, numbers: dict[int, str]) -> dict[str, object]:
    sources = [{"number": n, "document_id": d, "score": 0.5} for n, d in numbers.items()]
    return {"answer": answer, "ttft": 1.0, "seconds": 2.0, "sources": sources, "error": None}


def test_citations_are_read_in_the_order_they_are_first_written() -> None:
    assert cited("Paris [2], capitale [1][2] ; voir [3, 1].") == [2, 1, 3]
    assert cited("Aucune source citée (1).") == []


def test_the_gold_paragraph_is_found_among_first_cited_any_cited_and_retrieved() -> None:
    first = score(QUESTION, _result("Paris [2].", {1: "doc-a", 2: "doc-b"}), DOCUMENTS, "Paris#0")
    assert first["contains_gold"] and first["gold_first_cited"] and first["gold_any_cited"]
    assert not first["gold_retrieved_first"] and first["gold_retrieved"]
    later = score(
        QUESTION, _result("Lyon [1], Paris [2].", {1: "doc-a", 2: "doc-b"}), DOCUMENTS, "Paris#3"
    )
    assert not later["gold_first_cited"] and later["gold_any_cited"]
    # A number the answer made up (no such source) cites nothing.
    invented = score(QUESTION, _result("Paris [7].", {1: "doc-b"}), DOCUMENTS, "Paris#0")
    assert invented["cited"] == [7] and not invented["gold_any_cited"]
    assert invented["gold_retrieved_first"]


def test_off_topic_questions_count_for_abstention_only() -> None:
    off = Case("sp-0", "service-public", "Comment refaire mon passeport ?", "", "", (), False)
    refused = score(
        off, _result("Les documents fournis ne contiennent pas cette information.", {}), {}, ""
    )
    answered = score(QUESTION, _result("Lyon [1].", {1: "doc-a"}), DOCUMENTS, "Paris#0")
    figures = summarise([refused, answered])
    assert figures["questions"] == 1 and figures["off_topic_questions"] == 1
    assert figures["abstention"] == 1.0 and figures["false_abstention"] == 0.0
    assert figures["contains_gold"] == 0.0 and figures["gold_any_cited"] == 0.0
    assert figures["cites_any"] == 1.0


def test_a_resumed_run_keeps_only_the_planned_cases_already_answered(tmp_path: Path) -> None:
    out = tmp_path / "answers-m-test.json"
    assert _resumed(out, [QUESTION]) == []  # nothing written yet: everything is to do
    rows = [{"id": "q1", "answer": "Paris"}, {"id": "elsewhere", "answer": "?"}]
    out.write_text(json.dumps({"rows": rows}), encoding="utf-8")
    assert _resumed(out, [QUESTION]) == [{"id": "q1", "answer": "Paris"}]
