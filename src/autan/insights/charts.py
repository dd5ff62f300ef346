"""Geometry of the cockpit's bar charts, drawn as inline SVG by `admin/_chart.html`.

Server-side, so the page needs no chart library and no script; every chart sits next to
the table of its figures (the accessible alternative) and a CSV export.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 720
HEIGHT = 220
LEFT = 56  # room for the y axis labels
BOTTOM = 24  # room for the x axis labels
TOP = 8
X_LABELS = 6  # at most this many labels under the bars


@dataclass(frozen=True, slots=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    series: int  # which colour
    title: str  # "2026-11-03: 1 234"


@dataclass(frozen=True, slots=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    left: int
    baseline: float
    rects: list[Rect]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    empty: bool


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (1 for zero)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def _fmt(value: float, percent: bool) -> str:
    if percent:
        return f"{value * 100:.0f} %"
    if value >= 1_000_000:
        return f"{value / 1_000_000:g} M"
    if value >= 1_000:
        return f"{value / 1_000:g} k"
    return f"{value:g}"


def bars(
    points: Sequence[tuple[str, Sequence[float]]],
    *,
    percent: bool = False,
    names: Sequence[str] = (),
) -> Chart:
    """Stacked bars, one per point; each point's values stack bottom-up in series order."""
    plot_w, plot_h = WIDTH - LEFT, HEIGHT - BOTTOM - TOP
    top = nice_ceiling(max((sum(v) for _, v in points), default=0.0))
    if percent:
        top = min(top, 1.0)
    slot = plot_w / max(len(points), 1)
    gap = min(slot * 0.2, 4.0)
    baseline = float(TOP + plot_h)
    rects: list[Rect] = []
    for index, (label, values) in enumerate(points):
        y = baseline
        for series, value in enumerate(values):
            height = plot_h * value / top if top else 0.0
            if height <= 0:
                continue
            y -= height
            name = f"{names[series]}, " if series < len(names) else ""
            rects.append(
                Rect(
                    LEFT + index * slot + gap / 2,
                    y,
                    max(slot - gap, 1.0),
                    height,
                    series,
                    f"{label}: {name}{_fmt(value, percent) if percent else f'{value:,.0f}'}",
                )
            )
    y_ticks = [
        Tick(baseline - plot_h * fraction, _fmt(top * fraction, percent))
        for fraction in (0.0, 0.5, 1.0)
    ]
    every = max(1, math.ceil(len(points) / X_LABELS))
    x_ticks = [
        Tick(LEFT + index * slot + slot / 2, label)
        for index, (label, _) in enumerate(points)
        if index % every == 0
    ]
    empty = not any(sum(v) for _, v in points)
    return Chart(WIDTH, HEIGHT, LEFT, baseline, rects, y_ticks, x_ticks, empty)
