"""The end-to-end benchmark's scores: answers, abstentions and the sources cited.

Kept apart from `end_to_end.py` (which runs Autan) so that they are tested on fixed rows.
"""

from __future__ import annotations

import re
from typing import Any

from benchmarks.answers.data import Case
from benchmarks.answers.scoring import abstains, contains_gold, token_f1

_CITED = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")


def cited(answer: str) -> list[int]:
    """The source numbers an answer cites, in order of first citation."""
    numbers = [int(n) for group in _CITED.findall(answer) for n in re.split(r"[,;]", group)]
    return list(dict.fromkeys(numbers))


def score(
    case: Case, result: dict[str, Any], documents: dict[str, list[str]], gold: str
) -> dict[str, Any]:
    """The case's scores beside its answer; source numbers mapped to paragraph ids."""
    answer = result["answer"]
    by_number = {s["number"]: documents.get(s["document_id"], []) for s in result["sources"]}
    citations = [by_number.get(n, []) for n in cited(answer)]
    retrieved = [by_number[n] for n in sorted(by_number)]
    return {
        "id": case.id,
        "question": case.question,
        "golds": case.golds,
        "answerable": case.answerable,
        "gold_paragraph": gold,
        **result,
        "cited": cited(answer),
        "contains_gold": contains_gold(answer, case.golds) if case.answerable else None,
        "f1": token_f1(answer, case.golds) if case.answerable else None,
        "abstains": abstains(answer),
        "gold_first_cited": bool(citations) and gold in citations[0],
        "gold_any_cited": any(gold in keys for keys in citations),
        "gold_retrieved_first": bool(retrieved) and gold in retrieved[0],
        "gold_retrieved": any(gold in keys for keys in retrieved),
    }


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of one run (each share over the rows it applies to)."""
    answerable = [r for r in rows if r["answerable"]]
    off = [r for r in rows if not r["answerable"]]
    ttfts = sorted(r["ttft"] for r in rows if r["ttft"] is not None)
    return {
        "questions": len(answerable),
        "off_topic_questions": len(off),
        "contains_gold": _mean([float(r["contains_gold"]) for r in answerable]),
        "f1": _mean([r["f1"] for r in answerable]),
        "false_abstention": _mean([float(r["abstains"]) for r in answerable]),
        "abstention": _mean([float(r["abstains"]) for r in off]),
        "gold_first_cited": _mean([float(r["gold_first_cited"]) for r in answerable]),
        "gold_any_cited": _mean([float(r["gold_any_cited"]) for r in answerable]),
        "gold_retrieved_first": _mean([float(r["gold_retrieved_first"]) for r in answerable]),
        "gold_retrieved": _mean([float(r["gold_retrieved"]) for r in answerable]),
        "cites_any": _mean([float(bool(r["cited"])) for r in answerable]),
        "errors": sum(1 for r in rows if r["error"]),
        "ttft_median_s": ttfts[len(ttfts) // 2] if ttfts else None,
        "seconds_median": sorted(r["seconds"] for r in rows)[len(rows) // 2] if rows else None,
    }
