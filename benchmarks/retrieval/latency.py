"""Search latency at scale: real chunk texts replicated to N rows, with random unit vectors.

The texts are real (so lexical search meets real term statistics); the vectors are random
(embedding 100,000 chunks would take hours on two cores), which leaves dense search's cost,
but not its quality, realistic.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from autan.retrieval.search import search
from autan.retrieval.vectors import matrix_cache
from benchmarks.retrieval.data import BenchDocument, Draft
from benchmarks.retrieval.evaluate import METHODS, Maker, load, percentiles

CHUNKS_PER_DOCUMENT = 20


def synthetic_documents(
    texts: Sequence[str], total: int, seed: int = 0
) -> tuple[list[BenchDocument], list[np.ndarray]]:
    """`total` chunks cycling over `texts`, grouped in documents, with random unit vectors."""
    rng = np.random.default_rng(seed)
    documents: list[BenchDocument] = []
    vectors: list[np.ndarray] = []
    for start in range(0, total, CHUNKS_PER_DOCUMENT):
        size = min(CHUNKS_PER_DOCUMENT, total - start)
        drafts = [
            Draft(text=texts[(start + i) % len(texts)], position=i, tokens=0) for i in range(size)
        ]
        documents.append(BenchDocument(f"synthetic-{start // CHUNKS_PER_DOCUMENT}", None, drafts))
        matrix = rng.standard_normal((size, 384)).astype(np.float32)
        vectors.append(matrix / np.linalg.norm(matrix, axis=1, keepdims=True))
    return documents, vectors


async def measure(
    maker: Maker,
    texts: Sequence[str],
    questions: Sequence[str],
    query_vectors: np.ndarray,
    total: int,
) -> dict[str, Any]:
    """Index `total` synthetic chunks, then time each method (k=5, defaults) per question."""
    documents, vectors = synthetic_documents(texts, total)
    loaded = await load(maker, f"synthetic-{uuid.uuid4().hex[:6]}", documents, vectors)
    result: dict[str, Any] = {
        "chunks": loaded.chunks,
        "index_seconds": round(loaded.seconds, 1),
        "chunks_per_second": round(loaded.chunks / loaded.seconds),
    }
    matrix_cache.clear()
    started = time.perf_counter()
    async with maker() as session:
        await search(
            session,
            query=questions[0],
            query_vector=query_vectors[0].tolist(),
            collection_ids=[loaded.collection_id],
            method="semantic",
        )
    result["first_semantic_search_ms"] = round((time.perf_counter() - started) * 1000, 1)
    for method in METHODS:
        samples = []
        for question, vector in zip(questions, query_vectors, strict=True):
            started = time.perf_counter()
            async with maker() as session:
                await search(
                    session,
                    query=question,
                    query_vector=vector.tolist(),
                    collection_ids=[loaded.collection_id],
                    method=method,  # type: ignore[arg-type]
                )
            samples.append(time.perf_counter() - started)
        result[method] = {k: round(v, 2) for k, v in percentiles(samples).items()}
    return result


async def measure_built(
    maker: Maker,
    large: uuid.UUID,
    private: uuid.UUID,
    chunks: int,
    build_seconds: float,
    questions: Sequence[str],
    query_vectors: np.ndarray,
) -> dict[str, Any]:
    """Time each method over the large collection of a bulk-built database (k=5, defaults),
    and check that a search restricted to its small private collection still finds k."""
    result: dict[str, Any] = {
        "chunks": chunks,
        "index_seconds": round(build_seconds, 1),
        "chunks_per_second": round(chunks / build_seconds) if build_seconds else 0,
        "built": "COPY, indexes built afterwards (benchmarks/retrieval/bulk.py)",
    }
    started = time.perf_counter()
    async with maker() as session:
        await search(
            session,
            query=questions[0],
            query_vector=query_vectors[0].tolist(),
            collection_ids=[large],
            method="semantic",
        )
    result["first_semantic_search_ms"] = round((time.perf_counter() - started) * 1000, 1)
    # The server was just started: one untimed pass brings the pages these questions touch
    # into its shared buffers, as on a server that has been answering for a while.
    started = time.perf_counter()
    for question, vector in zip(questions, query_vectors, strict=True):
        async with maker() as session:
            await search(
                session, query=question, query_vector=vector.tolist(), collection_ids=[large]
            )
    result["warm_up_seconds"] = round(time.perf_counter() - started, 1)
    for method in METHODS:
        samples = []
        for question, vector in zip(questions, query_vectors, strict=True):
            started = time.perf_counter()
            async with maker() as session:
                await search(
                    session,
                    query=question,
                    query_vector=vector.tolist(),
                    collection_ids=[large],
                    method=method,  # type: ignore[arg-type]
                )
            samples.append(time.perf_counter() - started)
        result[method] = {k: round(v, 2) for k, v in percentiles(samples).items()}
    private_found: dict[str, list[int]] = {}
    private_ms: dict[str, dict[str, float]] = {}
    for method in METHODS:
        counts, samples = [], []
        for question, vector in list(zip(questions, query_vectors, strict=True))[:50]:
            started = time.perf_counter()
            async with maker() as session:
                hits = await search(
                    session,
                    query=question,
                    query_vector=vector.tolist(),
                    collection_ids=[private],
                    k=5,
                    method=method,  # type: ignore[arg-type]
                )
            samples.append(time.perf_counter() - started)
            counts.append(len(hits))
        private_found[method] = [min(counts), max(counts)]
        private_ms[method] = {k: round(v, 2) for k, v in percentiles(samples).items()}
    # Lexical search finds fewer than k when fewer chunks hold a word of the question.
    result["private_collection"] = {
        "documents": 10,
        "k": 5,
        "results_min_max": private_found,
        "latency_ms": private_ms,
    }
    return result
