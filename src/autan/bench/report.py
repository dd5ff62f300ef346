"""The planner's results on disk: a Markdown table, its figures as JSON, and a PNG plot."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autan.bench.load import markdown_table


def plot(rows: Sequence[dict[str, Any]], path: Path, title: str) -> None:
    """Success, refusals, TTFT added and throughput against the number of users, as a PNG."""
    # Imported here: matplotlib takes a second to import and only this command needs it.
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    from matplotlib import pyplot

    users = [r["users"] for r in rows]
    figure, (rates, latency, throughput) = pyplot.subplots(1, 3, figsize=(15, 4.5))
    figure.suptitle(title)
    rates.plot(users, [r["success_pct"] for r in rows], "o-", label="success %")
    rates.plot(
        users,
        [100.0 * r["refused_503"] / r["turns"] if r["turns"] else 0.0 for r in rows],
        "s--",
        label="refused (503) %",
    )
    rates.plot(
        users,
        [100.0 * r["errors"] / r["turns"] if r["turns"] else 0.0 for r in rows],
        "x:",
        label="errors %",
    )
    rates.set_ylim(-2, 102)
    rates.set_ylabel("% of turns")
    for key, label in (("ttft_added_p50_ms", "p50"), ("ttft_added_p95_ms", "p95")):
        points = [(r["users"], r[key]) for r in rows if r[key] is not None]
        latency.plot([u for u, _ in points], [v for _, v in points], "o-", label=label)
    latency.set_ylabel("TTFT added by Autan (ms)")
    throughput.plot(users, [r["requests_per_s"] for r in rows], "o-", label="requests/s")
    tokens = throughput.twinx()
    tokens.plot(
        users, [r["tokens_per_s"] for r in rows], "s--", color="tab:green", label="tokens/s"
    )
    tokens.set_ylabel("tokens/s", color="tab:green")
    throughput.set_ylabel("requests/s")
    for axes in (rates, latency, throughput):
        axes.set_xlabel("simulated users")
        axes.grid(alpha=0.3)
        axes.legend(loc="best")
    # One legend for both axes of the throughput panel.
    lines = throughput.get_lines() + tokens.get_lines()
    throughput.legend(lines, [line.get_label() for line in lines], loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def write(rows: Sequence[dict[str, Any]], folder: Path, name: str, header: str) -> Path:
    """`<name>.md` (header, table, the plot), `<name>.json` and `<name>.png`; the .md's path."""
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"{name}.png"
    plot(rows, png, name)
    text = f"{header}\n\n{markdown_table(rows)}\n\n![{name}]({png.name})\n"
    markdown = folder / f"{name}.md"
    markdown.write_text(text, encoding="utf-8")
    (folder / f"{name}.json").write_text(json.dumps(list(rows), indent=2) + "\n")
    return markdown
