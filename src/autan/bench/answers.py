"""`autan bench answers`: measure a model on evaluation cases (an institution's own).

The cases are those a referent exports from the feedback page (JSONL or CSV,
`autan.insights.cases`), or any file in the answer benchmark's case format: `question`,
`paragraph` (the passages), `paragraph_title`, `golds` (expected answers, may be empty) and
`answerable`. Each case is sent as a grounded chat turn is built (Autan's system prompt, the
grounding instruction, the passage as source [1]) to an OpenAI-compatible endpoint, Autan's
own `/v1` by default, greedy; the answers are scored as the benchmark scores them.
"""

from __future__ import annotations

import csv
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from autan.bench.scoring import abstains, contains_gold, token_f1
from autan.chat.prompting import system_prompt
from autan.llm.client import ChatMessage
from autan.retrieval.grounding import grounded_messages
from autan.retrieval.search import SearchHit


class CasesFileError(ValueError):
    """The cases file cannot be read as evaluation cases."""


@dataclass(frozen=True, slots=True)
class BenchCase:
    id: str
    question: str
    paragraph: str
    paragraph_title: str
    golds: tuple[str, ...]
    answerable: bool


def _case(raw: dict[str, Any], line: int) -> BenchCase:
    question = str(raw.get("question") or "").strip()
    if not question:
        raise CasesFileError(f"case {line} has no question")
    golds = raw.get("golds") or ()
    if isinstance(golds, str):  # CSV: "a | b"
        golds = [g.strip() for g in golds.split("|") if g.strip()]
    answerable = raw.get("answerable", True)
    if isinstance(answerable, str):
        answerable = answerable.strip().lower() not in ("false", "0", "no", "non")
    return BenchCase(
        id=str(raw.get("id") or line),
        question=question,
        paragraph=str(raw.get("paragraph") or ""),
        paragraph_title=str(raw.get("paragraph_title") or ""),
        golds=tuple(str(g) for g in golds),
        answerable=bool(answerable),
    )


def read_cases(path: Path) -> list[BenchCase]:
    """The cases of a JSONL (one object a line) or CSV file, in order."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CasesFileError(f"{path} cannot be read: {exc}") from exc
    if path.suffix.lower() == ".csv":
        return [_case(row, n) for n, row in enumerate(csv.DictReader(text.splitlines()), 1)]
    cases = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CasesFileError(f"line {n} of {path} is not JSON: {exc.msg}") from exc
        cases.append(_case(raw, n))
    return cases


def messages_for(case: BenchCase, lang: str = "fr") -> list[ChatMessage]:
    """The messages a chat turn grounded in the case's passage sends."""
    turn: list[ChatMessage] = [
        {"role": "system", "content": system_prompt(lang)},
        {"role": "user", "content": case.question},
    ]
    if not case.paragraph.strip():
        return turn
    hit = SearchHit(
        chunk_id=1,
        document_id=uuid.UUID(int=1),
        collection_id=None,
        document_name=case.paragraph_title,
        content=case.paragraph,
        page=None,
        pages="",
        headings="",
        position=0,
        score=1.0,
        method="hybrid",
    )
    return grounded_messages(turn, [hit], "en" if lang == "en" else "fr")


def score(case: BenchCase, answer: str, seconds: float) -> dict[str, Any]:
    """One case's answer and scores (contains-gold and F1 only when golds are given)."""
    scored = bool(case.golds) and case.answerable
    return {
        "id": case.id,
        "question": case.question,
        "answer": answer,
        "seconds": seconds,
        "answerable": case.answerable,
        "contains_gold": contains_gold(answer, case.golds) if scored else None,
        "f1": token_f1(answer, case.golds) if scored else None,
        "abstains": abstains(answer),
    }


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of a run: means over the cases each one applies to."""

    def mean(values: list[float]) -> float | None:
        return sum(values) / len(values) if values else None

    graded = [r for r in rows if r["contains_gold"] is not None]
    answerable = [r for r in rows if r["answerable"]]
    return {
        "cases": len(rows),
        "graded": len(graded),
        "contains_gold": mean([float(r["contains_gold"]) for r in graded]),
        "f1": mean([float(r["f1"]) for r in graded]),
        "false_abstention": mean([float(r["abstains"]) for r in answerable]),
        "abstention": mean([float(r["abstains"]) for r in rows if not r["answerable"]]),
        "median_seconds": sorted(r["seconds"] for r in rows)[len(rows) // 2] if rows else None,
    }


def run(
    cases: list[BenchCase], *, url: str, model: str, key: str | None, timeout: float = 300
) -> list[dict[str, Any]]:
    """Ask the model every case, one after the other (greedy), and score the answers."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    rows = []
    with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout) as http:
        for case in cases:
            started = time.perf_counter()
            response = http.post(
                "/chat/completions",
                json={"model": model, "messages": messages_for(case), "temperature": 0},
            )
            response.raise_for_status()
            answer = str(response.json()["choices"][0]["message"]["content"] or "")
            rows.append(score(case, answer, time.perf_counter() - started))
    return rows
