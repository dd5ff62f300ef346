"""What the leaderboard page draws: each model's score as a dot on its 95 % interval."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

from autan.arena.leaderboard import Standing

WIDTH = 720
ROW = 28
LEFT = 160  # room for the model names
RIGHT = 16


@dataclass(frozen=True, slots=True)
class IntervalRow:
    y: float
    name: str
    low: float
    high: float
    score: float
    title: str


@dataclass(frozen=True, slots=True)
class IntervalChart:
    width: int
    height: int
    left: int
    rows: list[IntervalRow]
    ticks: list[tuple[float, str]]


def interval_chart(standings: list[Standing]) -> IntervalChart:
    """Dots and whiskers on a common axis rounded to 50 points."""
    if not standings:
        return IntervalChart(WIDTH, ROW, LEFT, [], [])
    lo = math.floor(min(s.low for s in standings) / 50) * 50
    hi = math.ceil(max(s.high for s in standings) / 50) * 50
    hi = max(hi, lo + 50)
    span = WIDTH - LEFT - RIGHT

    def x(value: float) -> float:
        return LEFT + span * (value - lo) / (hi - lo)

    rows = [
        IntervalRow(
            ROW * index + ROW / 2,
            standing.model,
            x(standing.low),
            x(standing.high),
            x(standing.score),
            f"{standing.model}: {standing.score:.0f} ({standing.low:.0f}–{standing.high:.0f})",
        )
        for index, standing in enumerate(standings)
    ]
    step = 50 if hi - lo <= 300 else 100
    ticks = [(x(v), str(v)) for v in range(int(lo), int(hi) + 1, step)]
    return IntervalChart(WIDTH, ROW * len(standings) + 24, LEFT, rows, ticks)


def to_csv(standings: list[Standing]) -> str:
    """The leaderboard as CSV: rank, model, score, interval, votes."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["rank", "model", "score", "ci95_low", "ci95_high", "votes"])
    for s in standings:
        writer.writerow(
            [s.rank, s.model, f"{s.score:.1f}", f"{s.low:.1f}", f"{s.high:.1f}", s.votes]
        )
    return out.getvalue()
