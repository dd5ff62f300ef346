"""Hybrid search with and without a reranker over its best 20 passages (service-public).

No cross-encoder runs here without a model-hub download, so the reranker is the test
replica of tests/support/rerank_upstream.py, reached over HTTP with the `/v1/rerank`
protocol of TEI, vLLM and Infinity: it scores passages by the share of the question's
words they hold. The figures measure the plumbing (what the extra round trip costs, that
the order changes as the reranker says) and that word overlap is no reranker; a real
cross-encoder (bge-reranker-v2-m3 on a TEI replica) is what a deployment declares.

    .venv/bin/python -m benchmarks.retrieval.rerank [--documents 150] [--questions 150]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
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
TOP = 20


async def _rerank(
    http: aiohttp.ClientSession, url: str, question: str, hits: list[SearchHit]
) -> list[SearchHit]:
    body = {"model": "replica", "query": question, "documents": [h.content for h in hits[:TOP]]}
    async with http.post(f"{url}/rerank", json=body) as response:
        results = (await response.json())["results"]
    order = [item["index"] for item in sorted(results, key=lambda r: -r["relevance_score"])]
    return [hits[i] for i in order] + hits[TOP:]


async def main(documents: int, questions: int) -> dict[str, Any]:
    dataset = data.service_public()
    chosen = dataset.documents[:documents]
    keys = {document.key for document in chosen}
    asked = [(q, key) for q, key in dataset.questions if key in keys][:questions]
    passages = EmbeddingCache("passage", "rerank-")
    flat = passages.embed([t for d in chosen for t in passage_texts(d)], label="passages")
    vectors, start = [], 0
    for document in chosen:
        vectors.append(flat[start : start + len(document.drafts)])
        start += len(document.drafts)
    query_vectors = EmbeddingCache("query", "rerank-").embed([q for q, _ in asked], label="q")
    ranks: dict[str, list[int | None]] = {"hybrid": [], "hybrid + rerank": []}
    rerank_ms: list[float] = []
    async with database("sqlite") as url, fake_reranker() as replica:
        engine = create_engine(url)
        maker = session_factory(engine)
        loaded = await load(maker, "rerank", chosen, vectors)
        async with aiohttp.ClientSession() as http:
            for (question, wanted), vector in zip(asked, query_vectors, strict=True):
                async with maker() as session:
                    hits = await search(
                        session,
                        query=question,
                        query_vector=list(map(float, vector)),
                        collection_ids=[loaded.collection_id],
                        k=TOP,
                        method="hybrid",
                    )
                ranks["hybrid"].append(rank_of(document_ranking(hits), wanted))
                started = time.perf_counter()
                reranked = await _rerank(http, replica.url, question, hits)
                rerank_ms.append((time.perf_counter() - started) * 1000)
                ranks["hybrid + rerank"].append(rank_of(document_ranking(reranked), wanted))
        await engine.dispose()
    return {
        "dataset": "service-public",
        "documents": len(chosen),
        "chunks": loaded.chunks,
        "questions": len(asked),
        "reranked": TOP,
        "reranker": "test replica over HTTP (word overlap), /v1/rerank protocol",
        "scores": {name: metrics(r) for name, r in ranks.items()},
        "rerank_ms": {
            "p50": statistics.median(rerank_ms),
            "p95": statistics.quantiles(rerank_ms, n=20)[-1],
        },
        "load": os.getloadavg(),
    }


def report(results: dict[str, Any]) -> str:
    lines = [
        "# Hybrid search reranked (top 20), service-public subset",
        "",
        f"{results['documents']} fiches ({results['chunks']} chunks), "
        f"{results['questions']} questions, SQLite. Reranker: {results['reranker']}.",
        "",
        "| search | hit@1 | hit@5 | MRR@10 |",
        "|---|---|---|---|",
    ]
    for name, score in results["scores"].items():
        lines.append(
            f"| {name} | {score['hit@1']:.3f} | {score['hit@5']:.3f} | {score['mrr@10']:.3f} |"
        )
    load = ", ".join(f"{value:.1f}" for value in results["load"])
    lines += [
        "",
        f"Rerank round trip: p50 {results['rerank_ms']['p50']:.1f} ms, "
        f"p95 {results['rerank_ms']['p95']:.1f} ms (load average {load} on 2 cores, shared).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=150)
    parser.add_argument("--questions", type=int, default=150)
    args = parser.parse_args()
    results = asyncio.run(main(args.documents, args.questions))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "retrieval-rerank.json").write_text(json.dumps(results, indent=2) + "\n")
    text = report(results)
    (RESULTS / "retrieval-rerank.md").write_text(text)
    print(text)  # noqa: T201
