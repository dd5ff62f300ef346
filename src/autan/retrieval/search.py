"""Search entry point: lexical, semantic or hybrid search over the chunks of a scope."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from autan.core.errors import InvalidRequest
from autan.documents.models import Chunk, Document
from autan.retrieval.backend import backend_for
from autan.retrieval.dense import dense_search
from autan.retrieval.filters import Scope
from autan.retrieval.hybrid import fuse
from autan.retrieval.lexical import lexical_search
from autan.retrieval.settings import RetrievalSettings

Method = Literal["hybrid", "semantic", "lexical"]


class QueryVectorRequired(InvalidRequest):
    code = "query_vector_required"

    def __init__(self) -> None:
        super().__init__("Semantic search needs the question's embedding, and none was given.")


@dataclass(frozen=True)
class SearchHit:
    """A chunk found for a question, with what a citation needs."""

    chunk_id: int
    document_id: uuid.UUID
    collection_id: uuid.UUID | None
    document_name: str
    content: str
    page: int | None
    pages: str
    headings: str
    position: int
    score: float
    method: str
    # Albert's metadata: the document's, overridden by the chunk's own (ready-made chunks).
    metadata: dict[str, Any] | None = None
    # The e5 cosine of the question and this chunk, when semantic or hybrid search computed
    # it (None for lexical search, or a hybrid hit the dense ranking did not propose): unlike
    # the fused score, it says how close a passage is on a scale that does not depend on
    # the other passages, hence the grounded chat's abstention threshold.
    cosine: float | None = None


async def search(
    session: AsyncSession,
    *,
    query: str,
    query_vector: Sequence[float] | None,
    collection_ids: Sequence[uuid.UUID] = (),
    document_ids: Sequence[uuid.UUID] = (),
    k: int = 5,
    method: Method = "hybrid",
    tuning: RetrievalSettings | None = None,
) -> list[SearchHit]:
    """The `k` best chunks of ready documents in these collections and documents.

    The filters are a union, already checked against the user's rights by the caller; with
    neither, nothing is searched. `score` is BM25 (lexical), cosine (semantic) or the fused
    score (hybrid), higher is better, and each hit's `cosine` is its dense similarity when
    the dense ranking proposed it; `tuning` sets the fusion (method, depth, semantic
    weight). Hybrid search without a query vector falls back to
    lexical search, so a missing embedding model does not take search down.
    """
    scope = Scope.of(collection_ids, document_ids)
    if scope.empty or k < 1:
        return []
    if method == "semantic" and query_vector is None:
        raise QueryVectorRequired()
    if method == "hybrid" and query_vector is None:
        method = "lexical"
    ranked: list[tuple[int, float]]
    cosines: dict[int, float] = {}
    if method == "lexical":
        ranked = await lexical_search(session, query, scope, k)
    elif method == "semantic":
        assert query_vector is not None
        ranked = await dense_search(session, query_vector, scope, k)
        cosines = dict(ranked)
    else:
        assert query_vector is not None
        ranked, cosines = await _hybrid(session, query, query_vector, scope, k, tuning)
    return await _hits(session, ranked, method, cosines)


async def _hybrid(
    session: AsyncSession,
    query: str,
    query_vector: Sequence[float],
    scope: Scope,
    k: int,
    tuning: RetrievalSettings | None,
) -> tuple[list[tuple[int, float]], dict[int, float]]:
    """The fused ranking, and the cosines the dense half computed on the way (no extra cost)."""
    tuning = tuning or RetrievalSettings()
    depth = max(tuning.candidates, k)
    lexical, dense = await backend_for(session).both(
        session,
        lambda: lexical_search(session, query, scope, depth),
        query_vector,
        scope,
        depth,
    )
    fused = fuse(lexical, dense, tuning)
    return fused[:k], dict(dense)


async def _hits(
    session: AsyncSession,
    ranked: list[tuple[int, float]],
    method: str,
    cosines: dict[int, float],
) -> list[SearchHit]:
    if not ranked:
        return []
    rows = await session.execute(
        select(
            Chunk.id,
            Chunk.document_id,
            Chunk.collection_id,
            Document.name,
            Chunk.content,
            Chunk.page,
            Chunk.pages,
            Chunk.headings,
            Chunk.position,
            Document.meta.label("document_meta"),
            Chunk.meta.label("chunk_meta"),
        )
        .join(Document, Document.id == Chunk.document_id)
        .where(Chunk.id.in_([chunk_id for chunk_id, _ in ranked]))
    )
    by_id = {row.id: row for row in rows}
    return [
        SearchHit(
            chunk_id=chunk_id,
            document_id=row.document_id,
            collection_id=row.collection_id,
            document_name=row.name,
            content=row.content,
            page=row.page,
            pages=row.pages,
            headings=row.headings,
            position=row.position,
            score=score,
            method=method,
            metadata=merged_metadata(row.document_meta, row.chunk_meta),
            cosine=cosines.get(chunk_id),
        )
        for chunk_id, score in ranked
        if (row := by_id.get(chunk_id)) is not None
    ]


def merged_metadata(
    document: dict[str, Any] | None, chunk: dict[str, Any] | None
) -> dict[str, Any] | None:
    """A chunk's metadata: its document's, with the chunk's own values over them."""
    if not document and not chunk:
        return None
    return {**(document or {}), **(chunk or {})}
