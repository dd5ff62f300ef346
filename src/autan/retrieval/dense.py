"""Dense search: cosine similarity between the query vector and the chunk vectors.

SQLite: exact search with NumPy over the cached matrices of the searched collections (and
the vectors of the searched documents, read directly: a conversation's few attachments).
PostgreSQL: pgvector's `<=>` cosine distance, served by the HNSW index.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import LargeBinary, bindparam, select, text, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from autan.documents.models import Chunk, Document, DocumentStatus
from autan.retrieval.filters import Scope
from autan.retrieval.vectors import DTYPE, matrix_cache, normalise


async def dense_search(
    session: AsyncSession, query_vector: Sequence[float], scope: Scope, limit: int
) -> list[tuple[int, float]]:
    """The `limit` chunks of the scope closest to `query_vector`: (chunk id, cosine)."""
    if scope.empty:
        return []
    if session.get_bind().dialect.name == "postgresql":
        return await _postgresql(session, query_vector, scope, limit)
    candidates = await sqlite_candidates(session, scope)
    return candidates.closest(query_vector, limit)


@dataclass(frozen=True, slots=True)
class Candidates:
    """The vectors a SQLite dense search scores, read from the database beforehand.

    Scoring needs no session, so hybrid search runs it in a thread while the same session
    runs the lexical query (NumPy's matrix product releases the GIL).
    """

    # (chunk ids, unit vectors, rows to keep or None for all) per collection or document set
    parts: tuple[tuple[np.ndarray, np.ndarray, np.ndarray | None], ...]

    def closest(self, query_vector: Sequence[float], limit: int) -> list[tuple[int, float]]:
        """The `limit` closest chunks: (chunk id, cosine), best first."""
        if not self.parts:
            return []
        query = normalise(np.asarray(query_vector, dtype=np.float32))
        ids: list[np.ndarray] = []
        scores: list[np.ndarray] = []
        for chunk_ids, vectors, keep in self.parts:
            # Score every row, then drop the rows of unready documents: selecting rows of the
            # matrix first would copy it (150 MB at 100,000 chunks) on every search.
            similarities = vectors @ query
            ids.append(chunk_ids if keep is None else chunk_ids[keep])
            scores.append(similarities if keep is None else similarities[keep])
        if len(ids) == 1:
            all_ids, all_scores = ids[0], scores[0]
        else:  # a chunk can be reached twice (its collection and its document both named)
            all_ids, first = np.unique(np.concatenate(ids), return_index=True)
            all_scores = np.concatenate(scores)[first]
        if len(all_ids) > limit:
            # argpartition finds the best `limit` in linear time; only those get sorted.
            best = np.argpartition(-all_scores, limit - 1)[:limit]
        else:
            best = np.arange(len(all_ids))
        best = best[np.argsort(-all_scores[best], kind="stable")]
        return [(int(all_ids[i]), float(all_scores[i])) for i in best]


_UNREADY = [status for status in DocumentStatus if status != DocumentStatus.READY]


async def _unready_documents(session: AsyncSession, scope: Scope) -> set[uuid.UUID]:
    """Documents of the scope not searchable yet: usually none.

    All unready documents are read by the status index and filtered here (a handful; a few
    thousand while a large import is queued, still milliseconds): asking for the scope's
    would scan every document of its collections.
    """
    rows = await session.execute(
        select(Document.id, Document.collection_id).where(Document.status.in_(_UNREADY))
    )
    collections, documents = set(scope.collection_ids), set(scope.document_ids)
    return {
        document_id
        for document_id, collection_id in rows
        if collection_id in collections or document_id in documents
    }


async def sqlite_candidates(session: AsyncSession, scope: Scope) -> Candidates:
    """The vectors of the scope's ready documents (cached matrices, attachments read)."""
    unready = await _unready_documents(session, scope)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
    for collection_id in scope.collection_ids:
        matrix = await matrix_cache.get(session, collection_id)
        if len(matrix.chunk_ids):
            keep = ~matrix.rows_of(unready) if unready else None
            parts.append((matrix.chunk_ids, matrix.vectors, keep))
    if scope.document_ids:
        rows = (
            await session.execute(
                select(Chunk.id, type_coerce(Chunk.embedding, LargeBinary)).where(
                    Chunk.document_id.in_([d for d in scope.document_ids if d not in unready]),
                    Chunk.embedding.is_not(None),
                )
            )
        ).all()
        if rows:
            vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=DTYPE)
            chunk_ids = np.asarray([r[0] for r in rows], dtype=np.int64)
            parts.append((chunk_ids, normalise(vectors.reshape(len(rows), -1)), None))
    return Candidates(tuple(parts))


# ef_search bounds how many neighbours HNSW returns, so it must exceed the results wanted.
_POSTGRESQL = """
SELECT c.id, 1 - (c.embedding <=> CAST(:query AS vector)) AS score
FROM chunks AS c JOIN documents AS d ON d.id = c.document_id
WHERE c.embedding IS NOT NULL AND d.status = 'ready' AND ({scope})
ORDER BY c.embedding <=> CAST(:query AS vector)
LIMIT :limit
"""


async def _postgresql(
    session: AsyncSession, query_vector: Sequence[float], scope: Scope, limit: int
) -> list[tuple[int, float]]:
    await session.execute(text(f"SET LOCAL hnsw.ef_search = {max(100, 2 * limit)}"))
    literal = "[" + ",".join(repr(float(x)) for x in query_vector) + "]"
    statement = text(_POSTGRESQL.format(scope=scope.sql("c"))).bindparams(
        *scope.bindparams(), bindparam("query"), bindparam("limit")
    )
    parameters = {"query": literal, "limit": limit}
    rows = (await session.execute(statement, parameters)).all()
    if len(rows) < limit:
        # HNSW filters after walking the graph: a small collection among many loses most of
        # its ef_search neighbours to the filter (pgvector 0.6 has no iterative scan). An
        # exact scan of the filtered rows is then both correct and cheap.
        await session.execute(text("SET LOCAL enable_indexscan = off"))
        rows = (await session.execute(statement, parameters)).all()
        await session.execute(text("SET LOCAL enable_indexscan = on"))
    return [(int(chunk_id), float(score)) for chunk_id, score in rows]
