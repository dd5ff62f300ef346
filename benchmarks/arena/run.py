"""Does the arena's leaderboard recover known model strengths, and do its intervals cover them?

Usage: .venv/bin/python benchmarks/arena/run.py [--seeds 50] [--votes 2000] [--samples 1000]
For each seed, simulates `--votes` decisive votes between 4 models of known Elo scores
(random pairs, the winner drawn from the Bradley-Terry probability), fits the leaderboard
(`arena.leaderboard`) with its bootstrap, and checks the ranking and whether each 95 %
interval holds the true score. Also reports how coverage and interval width change with fewer
votes. Writes benchmarks/results/arena.md and arena.json. Needs no data file.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from autan.arena.leaderboard import leaderboard, simulate

RESULTS = Path(__file__).resolve().parents[1] / "results"
TRUE = {"alpha": 1150.0, "beta": 1050.0, "gamma": 980.0, "delta": 820.0}


def centred(scores: dict[str, float]) -> dict[str, float]:
    mean = sum(scores.values()) / len(scores)
    return {k: v - mean + 1000.0 for k, v in scores.items()}


def run(votes: int, seeds: int, samples: int) -> dict[str, Any]:
    """Coverage, ranking and error of the leaderboard over `seeds` simulated vote sets."""
    truth = centred(TRUE)
    order = sorted(truth, key=lambda m: -truth[m])
    covered = total = ranked = 0
    errors: list[float] = []
    widths: list[float] = []
    per_model = dict.fromkeys(truth, 0)
    started = time.perf_counter()
    for seed in range(seeds):
        board = leaderboard(
            simulate(truth, votes, np.random.default_rng(seed)), samples=samples, seed=seed
        )
        ranked += [s.model for s in board] == order
        for s in board:
            hit = s.low <= truth[s.model] <= s.high
            covered += hit
            per_model[s.model] += hit
            total += 1
            errors.append(abs(s.score - truth[s.model]))
            widths.append(s.high - s.low)
    seconds = time.perf_counter() - started
    return {
        "votes": votes,
        "seeds": seeds,
        "coverage": covered / total,
        "coverage_per_model": {m: c / seeds for m, c in per_model.items()},
        "ranking_recovered": ranked / seeds,
        "mean_abs_error": float(np.mean(errors)),
        "mean_interval_width": float(np.mean(widths)),
        "seconds_per_fit": seconds / seeds,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--votes", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()
    load = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    rows = [run(v, args.seeds, args.samples) for v in (args.votes, 500, 100)]
    lines = [
        "# Arena leaderboard: recovery of known strengths",
        "",
        f"4 models of true Elo scores {centred(TRUE)} (centred on 1000); random pairs; "
        f"{args.seeds} seeds per row; {args.samples} bootstrap samples; Bradley-Terry by MM.",
        "",
        "| votes | 95 % CI coverage | ranking recovered | mean abs error | mean CI width "
        "| s per fit |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['votes']} | {r['coverage']:.1%} | {r['ranking_recovered']:.0%} "
            f"| {r['mean_abs_error']:.1f} | {r['mean_interval_width']:.1f} "
            f"| {r['seconds_per_fit']:.3f} |"
        )
    per = rows[0]["coverage_per_model"]
    lines += [
        "",
        f"Coverage per model at {args.votes} votes: "
        + ", ".join(f"{m} {c:.0%}" for m, c in per.items()),
        "",
        f"Machine load while measuring (shared with other work): `{load}`",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "arena.md").write_text(text, encoding="utf-8")
    (RESULTS / "arena.json").write_text(
        json.dumps({"rows": rows, "load": load}, indent=2), encoding="utf-8"
    )


if __name__ == "__main__":
    main()
