"""Search on SQLite: BM25 over FTS5, exact dense search in NumPy over cached matrices.

This Python's sqlite3 cannot load extensions, so there is no vector index: each searched
collection's vectors are kept in memory (autan.retrieval.vectors) and scored with a matrix
product, which stays fast to ~10^5 chunks.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import LargeBinary, bindparam, select, text, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from autan.documents.models import Chunk
from autan.retrieval.analysis import fts5_query
from autan.retrieval.filters import Ranking, Scope, ranked, unready_documents
from autan.retrieval.vectors import DTYPE, matrix_cache, normalise
from autan.retrieval.weights import common_words

# bm25() is lower for better matches; the document title and headings count double (a
# passage under "Conditions d'attribution" is about those conditions). Joining every match to
# its chunk row costs more than ranking it (chunk rows are large), so the index is ranked
# alone first and only its best rows are joined and filtered by scope. The inner order is
# total (score, then rowid), so the filtered prefix is exactly the scope's own ranking.
_TOP = """
SELECT c.id, f.score
FROM (
    SELECT rowid, -bm25(chunks_fts, 1.0, 2.0) AS score
    FROM chunks_fts
    WHERE chunks_fts MATCH :match
    ORDER BY score DESC, rowid
    LIMIT :depth
) AS f
JOIN chunks AS c ON c.id = f.rowid
JOIN documents AS d ON d.id = c.document_id
WHERE d.status = 'ready' AND ({scope})
ORDER BY f.score DESC, c.id
LIMIT :limit
"""

# When the scope is a small part of the index (a conversation's attachments, one team's
# collection among many), its rows are picked first and only those are ranked. `+rowid`
# keeps FTS5 from probing the index once per picked row.
_SCOPED = """
SELECT rowid, -bm25(chunks_fts, 1.0, 2.0) AS score
FROM chunks_fts
WHERE chunks_fts MATCH :match AND +rowid IN (
    SELECT c.id FROM chunks AS c
    WHERE ({scope})
      AND c.document_id NOT IN (SELECT id FROM documents WHERE status != 'ready')
)
ORDER BY score DESC, rowid
LIMIT :limit
"""

# How many of the whole index's best matches are looked at before ranking the scope alone.
TOP_DEPTH = 200


@dataclass(frozen=True, slots=True)
class Candidates:
    """The vectors a dense search scores, read from the database beforehand.

    Scoring needs no session, so hybrid search runs it in a thread while the same session
    runs the lexical query (NumPy's matrix product releases the GIL).
    """

    # (chunk ids, unit vectors, rows to keep or None for all) per collection or document set
    parts: tuple[tuple[np.ndarray, np.ndarray, np.ndarray | None], ...]

    def closest(self, query_vector: Sequence[float], limit: int) -> Ranking:
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


async def candidates(session: AsyncSession, scope: Scope) -> Candidates:
    """The vectors of the scope's ready documents (cached matrices, attachments read)."""
    unready = await unready_documents(session, scope)
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


class SqliteBackend:
    """FTS5 for words, NumPy for vectors."""

    async def count_chunks(self, session: AsyncSession) -> int:
        """How many chunks the index holds."""
        return int(await session.scalar(text("SELECT count(*) FROM chunks")) or 0)

    async def count_terms(self, session: AsyncSession, terms: Sequence[str]) -> dict[str, int]:
        """How many chunks hold each term, read from the FTS5 vocabulary table."""
        rows = await session.execute(
            text("SELECT term, doc FROM chunks_fts_vocab WHERE term IN :terms").bindparams(
                bindparam("terms", expanding=True)
            ),
            {"terms": list(terms)},
        )
        return {str(term): int(count) for term, count in rows}

    async def lexical(
        self,
        session: AsyncSession,
        terms: Sequence[str],
        counts: dict[str, int],
        total: int,
        scope: Scope,
        limit: int,
    ) -> Ranking:
        """BM25 over FTS5, ranked over the whole index first, then the scope alone if need be."""
        match = fts5_query(terms, common_words(terms, counts, total))
        depth = max(4 * limit, TOP_DEPTH)
        found = await ranked(
            session,
            _TOP.format(scope=scope.sql("c")),
            scope,
            {"match": match, "limit": limit, "depth": depth},
        )
        if len(found) < limit and await _matches_beyond(session, match, depth):
            # The scope's rows are too rare among the index's best: rank the scope alone.
            sql = _SCOPED.format(scope=scope.sql("c"))
            found = await ranked(session, sql, scope, {"match": match, "limit": limit})
        return found

    async def dense(
        self, session: AsyncSession, query_vector: Sequence[float], scope: Scope, limit: int
    ) -> Ranking:
        """Exact cosine over the scope's vectors."""
        return (await candidates(session, scope)).closest(query_vector, limit)

    async def both(
        self,
        session: AsyncSession,
        lexical: Callable[[], Awaitable[Ranking]],
        query_vector: Sequence[float],
        scope: Scope,
        limit: int,
    ) -> tuple[Ranking, Ranking]:
        """Both rankings; the vectors are scored in a thread while the session runs the
        lexical query, so the two take about as long as the slower one."""
        found = await candidates(session, scope)
        # Both are awaited even when one fails, so no query is left running on the session.
        words, vectors = await asyncio.gather(
            lexical(), asyncio.to_thread(found.closest, query_vector, limit), return_exceptions=True
        )
        if isinstance(words, BaseException):
            raise words
        if isinstance(vectors, BaseException):
            raise vectors
        return words, vectors

    def chunks_written(self, collection_ids: Iterable[uuid.UUID | None]) -> None:
        """Drop the in-memory matrices of these collections."""
        for collection_id in collection_ids:
            matrix_cache.invalidate(collection_id)


async def _matches_beyond(session: AsyncSession, match: str, depth: int) -> bool:
    """Whether the index holds more than `depth` matches (the first pass saw them all if not)."""
    statement = text(
        "SELECT count(*) FROM (SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH :match LIMIT :n)"
    )
    count = await session.scalar(statement, {"match": match, "n": depth + 1})
    return int(count or 0) > depth


SQLITE = SqliteBackend()
