"""Builds the answer benchmark's tables and the figures the models page shows.

Reads `benchmarks/results/answers-<name>-test.json` (written by `run.py`, also while it
runs) and applies the chat's abstention rule offline: a case whose e5 cosine of question
and passage is below the threshold gets the fixed "not in the documents" sentence, as the
chat answers without calling the model (`retrieval.grounding.too_far`). Runs recorded
before the cosine was (no `cosine` in their rows) are shown as answered.

    .venv/bin/python -m benchmarks.answers.report

Prints the Markdown rows (reading comprehension, then end to end) and writes
`src/autan/chat/model_figures.json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autan.retrieval.relevance import NOT_IN_DOCUMENTS
from autan.retrieval.settings import RetrievalSettings
from benchmarks.answers.run import RESULTS, summarise
from benchmarks.answers.scoring import abstains, contains_gold, token_f1

FIGURES = Path(__file__).resolve().parents[2] / "src" / "autan" / "chat" / "model_figures.json"


def with_threshold(rows: list[dict[str, Any]], threshold: float) -> list[dict[str, Any]]:
    """The rows as the chat answers them: the fixed sentence below the threshold."""
    out = []
    for row in rows:
        cosine = row.get("cosine")
        if cosine is None or cosine >= threshold:
            out.append(row)
            continue
        text = NOT_IN_DOCUMENTS["fr"]
        golds = row["golds"]
        out.append(
            row
            | {
                "answer": text,
                "contains_gold": contains_gold(text, golds) if row["answerable"] else None,
                "f1": token_f1(text, golds) if row["answerable"] else None,
                "abstains": abstains(text),
                "french": True,
                "leak": False,
            }
        )
    return out


def _f(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def last_sitting(result: dict[str, Any]) -> dict[str, Any]:
    """The speed of the cases answered in the run's last sitting, the one whose machine load
    is recorded: the cases kept by `--resume` were answered under other loads."""
    rows = result["rows"][result.get("resumed_cases", 0) :] or result["rows"]
    return summarise(rows)


def row_of(name: str, result: dict[str, Any], s: dict[str, Any], rule: str) -> str:
    """One Markdown row; speed from the last sitting (`last_sitting`)."""
    speed = last_sitting(result)
    return (
        f"| {name} | {rule} | {s['questions']} | {_f(s['contains_gold'])} | {_f(s['f1'])} | "
        f"{_f(s['false_abstention'])} | {_f(s['abstention'])} ({s['abstention_cases']}) | "
        f"{_f(s['french'])} | {s['leaks']} | {_f(speed['decode_tokens_per_s'], 1)} | "
        f"{_f(speed['ttft_median_s'])} s | {result['date'][:16]} | {result['load_after'][0]:.1f} |"
    )


def end_to_end_lines() -> list[str]:
    """The end-to-end table (`end_to_end.py`): one row per model."""
    lines = [
        "| model | questions | contains-gold | token F1 | false abstention | abstention, "
        "off-topic (n) | gold paragraph first cited | gold cited (any) | gold retrieved first "
        "| gold retrieved (top k) | answers citing | TTFT median | date (UTC) | load at end |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for path in sorted(RESULTS.glob("answers-e2e-*.json")):
        result = json.loads(path.read_text(encoding="utf-8"))
        s = result["summary"]
        lines.append(
            f"| {result['name']} | {s['questions']} | {_f(s['contains_gold'])} | {_f(s['f1'])} | "
            f"{_f(s['false_abstention'])} | {_f(s['abstention'])} ({s['off_topic_questions']}) | "
            f"{_f(s['gold_first_cited'])} | {_f(s['gold_any_cited'])} | "
            f"{_f(s['gold_retrieved_first'])} | {_f(s['gold_retrieved'])} | "
            f"{_f(s['cites_any'])} | {_f(s['ttft_median_s'], 1)} s | {result['date'][:16]} | "
            f"{result['load_after'][0]:.1f} |"
        )
    return lines


def main() -> None:
    threshold = RetrievalSettings().min_cosine
    lines = [
        "| model | abstention rule | questions | contains-gold | token F1 | false abstention "
        "| abstention (n) | French | prompt leaks | decode tok/s | TTFT median | date (UTC) "
        "| load at end |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    figures: dict[str, dict[str, Any]] = {}
    for path in sorted(RESULTS.glob("answers-*-test.json")):
        result = json.loads(path.read_text(encoding="utf-8"))
        if "name" not in result:  # answers-threshold-test.json: cosines only, no answers
            continue
        rows = result["rows"]
        plain = summarise(rows)
        lines.append(row_of(result["name"], result, plain, "none"))
        chosen = plain
        if rows and all("cosine" in r for r in rows):
            chosen = summarise(with_threshold(rows, threshold))
            lines.append(row_of(result["name"], result, chosen, f"cosine < {threshold}"))
        figures[result["name"]] = {
            "questions": chosen["questions"],
            "contains_gold": chosen["contains_gold"],
            "abstention": chosen["abstention"],
            "french": chosen["french"],
            "decode_tokens_per_s": last_sitting(result)["decode_tokens_per_s"],
            "date": result["date"][:10],
            "load": round(max(result["load_before"][0], result["load_after"][0]), 1),
        }
    print("\n".join(lines))
    print()
    print("\n".join(end_to_end_lines()))
    body = {"source": "benchmarks/results/answers.md (test split)", "models": figures}
    FIGURES.write_text(json.dumps(body, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
