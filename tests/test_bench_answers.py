"""`autan bench answers --cases FILE --model …`: the exported cases answered through an
OpenAI-compatible endpoint (the scripted model on loopback, which echoes the end of the
question it is sent) and scored as the answer benchmark scores them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from benchmarks.answers.report import with_threshold
from typer.testing import CliRunner

from autan.bench.answers import messages_for, read_cases
from autan.cli import app
from autan.retrieval.relevance import NOT_IN_DOCUMENTS
from tests.support.scripted_upstream import scripted_upstream

# The export's format (autan.insights.cases): the benchmark's fields and a few more.
EXPORTED = [
    {
        "id": "a",
        "article": "guide.txt",
        "question": "Quel service instruit les demandes de subvention ?",
        "paragraph": "Les demandes de subvention sont instruites par le service des aides.",
        "paragraph_title": "guide.txt",
        "golds": ["subvention"],
        "answerable": True,
        "answer": "Je ne sais pas.",
        "comment": "Mauvaise réponse",
        "model": "petit",
    },
    {
        "id": "b",
        "question": "Quelle est la date limite ?",
        "paragraph": "La date limite est fixée au 31 mars.",
        "paragraph_title": "calendrier.txt",
        "golds": [],
        "answerable": True,
    },
]


def test_cases_are_read_from_jsonl_and_csv_and_grounded_like_the_chat(tmp_path: Path) -> None:
    jsonl = tmp_path / "cases.jsonl"
    jsonl.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in EXPORTED))
    table = tmp_path / "cases.csv"
    table.write_text(
        "id,question,paragraph,paragraph_title,golds\n"
        'x,Quand ?,Le 31 mars.,cal.txt,"31 mars | fin mars"\n',
        encoding="utf-8",
    )
    cases = read_cases(jsonl)
    assert [(c.id, c.golds) for c in cases] == [("a", ("subvention",)), ("b", ())]
    assert read_cases(table)[0].golds == ("31 mars", "fin mars")
    messages = messages_for(cases[0])
    assert messages[0]["role"] == "system" and "[1]" in str(messages[0]["content"])
    assert "service des aides" in str(messages[-1]["content"])


async def test_bench_answers_scores_each_case(tmp_path: Path) -> None:
    jsonl = tmp_path / "cases.jsonl"
    jsonl.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in EXPORTED))
    output = tmp_path / "results.json"
    async with scripted_upstream() as url:
        args = ["bench", "answers", "--cases", str(jsonl), "--model", "scripted"]
        args += ["--url", url, "--output", str(output)]
        result = await asyncio.to_thread(CliRunner().invoke, app, args)
    assert result.exit_code == 0, result.output
    assert "| contains_gold | 1.00 |" in result.output
    rows = json.loads(output.read_text())["rows"]
    # The scripted answer echoes the question's end: it holds the gold of case a; case b
    # has no gold to grade, so only case a counts.
    assert [(r["id"], r["contains_gold"]) for r in rows] == [("a", True), ("b", None)]
    assert "subvention" in rows[0]["answer"]


def test_an_unreadable_cases_file_is_refused_plainly(tmp_path: Path) -> None:
    broken = tmp_path / "cases.jsonl"
    broken.write_text('{"question": "ok ?"}\nnot json\n')
    result = CliRunner().invoke(
        app, ["bench", "answers", "--cases", str(broken), "--model", "x", "--url", "http://x"]
    )
    assert result.exit_code == 2
    # The console wraps long lines where the temporary path's length puts the break.
    output = " ".join(result.output.split())
    assert "line 2" in output and "not JSON" in output


def test_the_benchmark_applies_the_chats_threshold_offline() -> None:
    base = {"golds": ["Paris"], "answer": "Paris [1].", "french": True, "leak": False}
    rows = [
        base | {"id": "near", "answerable": True, "cosine": 0.9, "contains_gold": True},
        base | {"id": "far", "answerable": False, "cosine": 0.7, "contains_gold": None},
        base | {"id": "old", "answerable": True, "contains_gold": True},  # no cosine recorded
    ]
    out = {r["id"]: r for r in with_threshold(rows, 0.79)}
    assert out["near"]["answer"] == "Paris [1]." and out["old"]["answer"] == "Paris [1]."
    assert out["far"]["answer"] == NOT_IN_DOCUMENTS["fr"] and out["far"]["abstains"]
