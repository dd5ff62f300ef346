"""What the usage page draws and exports, computed from a `cockpit.Overview`."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from autan.insights.charts import Chart, bars
from autan.insights.cockpit import Overview, Point

CSV_COLUMNS = (
    "requests",
    "prompt_tokens",
    "completion_tokens",
    "active_users",
    "answers",
    "with_documents",
    "with_web",
    "via_api",
    "feedback",
    "energy_kwh",
    "kgco2eq",
)


def usage_charts(view: Overview) -> dict[str, Chart]:
    """One chart per figure, over the period's buckets."""
    series = view.series
    return {
        "requests": bars([(p.label, [p.requests]) for p in series]),
        "tokens": bars([(p.label, [p.prompt_tokens, p.completion_tokens]) for p in series]),
        "users": bars([(p.label, [p.active_users]) for p in series]),
        "answers": bars([(p.label, [p.with_documents, p.with_web, _plain(p)]) for p in series]),
        "feedback": bars([(p.label, [p.feedback_rate or 0.0]) for p in series], percent=True),
    }


def _plain(point: Point) -> int:
    """Answers grounded in neither documents nor web pages (the top of the stack)."""
    return max(point.answers - point.with_documents - point.with_web, 0)


def csv_of(rows: Sequence[Point], first: str) -> str:
    """The rows as CSV, one column per figure (counts, energy in kWh, kg CO2eq)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([first, *CSV_COLUMNS])
    for row in rows:
        writer.writerow([row.label, *(_csv_value(getattr(row, name)) for name in CSV_COLUMNS)])
    return out.getvalue()


def _csv_value(value: float) -> str:
    """Counts as they are; energy and CO2 with enough digits for a day's few answers."""
    return str(value) if isinstance(value, int) else f"{value:.6g}"
