"""Loading a dataset through autan.retrieval.index and scoring autan.retrieval.search on it."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts import service as accounts
from autan.documents.models import Collection, Document, DocumentStatus, Visibility
from autan.retrieval import hybrid
from autan.retrieval.index import add_chunks
from autan.retrieval.search import SearchHit, search
from autan.retrieval.settings import RetrievalSettings
from benchmarks.retrieval.data import BenchDocument, Dataset

Maker = async_sessionmaker[AsyncSession]
METHODS = ("lexical", "semantic", "hybrid")
DEPTH = 100  # chunks each single method returns, for document ranks and offline fusion


@dataclass
class Loaded:
    collection_id: uuid.UUID
    chunks: int
    seconds: float


async def load(
    maker: Maker,
    name: str,
    documents: Sequence[BenchDocument],
    vectors: Sequence[Any],
) -> Loaded:
    """Documents (marked ready) and chunks of one collection; vectors[i] for documents[i].

    vectors[i] is a matrix, or a list of vectors where None is a chunk without embedding.
    """
    started = time.perf_counter()
    async with maker() as session:
        owner = await accounts.create_user(session, f"{name}-{uuid.uuid4().hex[:6]}@bench.fr")
        collection = Collection(
            org_id=owner.org_id, owner_id=owner.id, name=name, visibility=Visibility.PRIVATE
        )
        session.add(collection)
        await session.flush()
        chunks = 0
        for number, (document, rows) in enumerate(zip(documents, vectors, strict=True)):
            row = Document(
                collection_id=collection.id,
                owner_id=owner.id,
                org_id=owner.org_id,
                name=document.key,
                title=document.title,
                format="txt",
                size_bytes=sum(len(d.text) for d in document.drafts),
                sha256=uuid.uuid4().hex,
                status=DocumentStatus.READY,
            )
            session.add(row)
            await session.flush()
            chunks += await add_chunks(session, row, document.drafts, list(rows))
            if number % 200 == 199:
                await session.commit()
        await session.commit()
        if session.get_bind().dialect.name == "postgresql":
            # Fresh statistics, as autovacuum would have them on a live server: without them
            # the planner may scan every vector instead of walking the HNSW index.
            await session.execute(text("ANALYZE chunks, documents"))
            await session.commit()
    return Loaded(collection.id, chunks, time.perf_counter() - started)


def document_ranking(hits: Sequence[SearchHit]) -> list[str]:
    """Documents in the order of their best chunk."""
    return list(dict.fromkeys(hit.document_name for hit in hits))


def metrics(ranks: Sequence[int | None]) -> dict[str, float]:
    """hit@1, hit@5, MRR@10 from the 1-based rank of the right document (None: not found)."""
    n = len(ranks)
    return {
        "hit@1": sum(1 for r in ranks if r == 1) / n,
        "hit@5": sum(1 for r in ranks if r is not None and r <= 5) / n,
        "mrr@10": sum(1 / r for r in ranks if r is not None and r <= 10) / n,
    }


def rank_of(ranking: Sequence[str], wanted: str) -> int | None:
    return ranking.index(wanted) + 1 if wanted in ranking else None


@dataclass
class Evaluation:
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    fusion_grid: list[dict[str, Any]] = field(default_factory=list)
    # Questions whose hybrid ranking equals the offline fusion of the two single rankings
    # (exact ties at the candidates' cut can order a few differently).
    hybrid_matches_offline_fusion: int = 0


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": statistics.median(ordered) * 1000,
        "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000,
    }


async def evaluate(
    maker: Maker,
    collection_id: uuid.UUID,
    dataset: Dataset,
    query_vectors: np.ndarray,
    *,
    hybrid_k: int = 50,
    methods: Sequence[str] = METHODS,
) -> Evaluation:
    """Every question through the three methods; document ranks; an offline fusion grid."""
    ranks: dict[str, list[int | None]] = {m: [] for m in methods}
    times: dict[str, list[float]] = {m: [] for m in methods}
    single: list[tuple[list[SearchHit], list[SearchHit], str]] = []
    result = Evaluation()
    for (question, wanted), vector in zip(dataset.questions, query_vectors, strict=True):
        found: dict[str, list[SearchHit]] = {}
        for method in methods:
            depth = hybrid_k if method == "hybrid" else DEPTH
            started = time.perf_counter()
            async with maker() as session:
                found[method] = await search(
                    session,
                    query=question,
                    query_vector=vector.tolist(),
                    collection_ids=[collection_id],
                    k=depth,
                    method=method,  # type: ignore[arg-type]
                )
            times[method].append(time.perf_counter() - started)
            hits = found[method] if method == "hybrid" else found[method][:hybrid_k]
            ranks[method].append(rank_of(document_ranking(hits), wanted))
        if "hybrid" not in found:
            continue
        single.append((found["lexical"], found["semantic"], wanted))
        tuning = RetrievalSettings()
        offline = fuse(
            found["lexical"],
            found["semantic"],
            tuning.candidates,
            tuning.fusion,
            tuning.semantic_weight,
        )[:hybrid_k]
        if offline == [h.chunk_id for h in found["hybrid"]]:
            result.hybrid_matches_offline_fusion += 1
    result.scores = {m: metrics(ranks[m]) for m in methods}
    result.latency_ms = {m: percentiles(times[m]) for m in methods}
    result.fusion_grid = fusion_grid(single, hybrid_k) if single else []
    return result


def fuse(
    lexical: Sequence[SearchHit],
    semantic: Sequence[SearchHit],
    candidates: int,
    fusion: Literal["score", "rank"],
    semantic_weight: float,
) -> list[int]:
    """The hybrid ranking search() would return for these two rankings and settings."""
    tuning = RetrievalSettings(
        fusion=fusion, semantic_weight=semantic_weight, candidates=candidates
    )
    fused = hybrid.fuse(
        [(h.chunk_id, h.score) for h in lexical[:candidates]],
        [(h.chunk_id, h.score) for h in semantic[:candidates]],
        tuning,
    )
    return [chunk_id for chunk_id, _ in fused]


GRID: dict[Literal["score", "rank"], tuple[float, ...]] = {
    "score": (0.6, 0.8, 1.0, 1.2, 1.5),
    "rank": (1.0, 1.5, 2.0),
}


def fusion_grid(
    single: Sequence[tuple[list[SearchHit], list[SearchHit], str]], hybrid_k: int
) -> list[dict[str, Any]]:
    """Hybrid scores for other fusion settings, from the same two rankings (no new search)."""
    rows = []
    for candidates in (20, 50, 100):
        for fusion, weights in GRID.items():
            for semantic_weight in weights:
                ranks = []
                for lexical, semantic, wanted in single:
                    names = {h.chunk_id: h.document_name for h in (*lexical, *semantic)}
                    fused = fuse(lexical, semantic, candidates, fusion, semantic_weight)
                    ranking = list(dict.fromkeys(names[c] for c in fused[:hybrid_k]))
                    ranks.append(rank_of(ranking, wanted))
                rows.append(
                    {
                        "candidates": candidates,
                        "fusion": fusion,
                        "semantic_weight": semantic_weight,
                        **metrics(ranks),
                    }
                )
    return rows
