"""Lexical search: BM25 over FTS5 on SQLite, full text over the same words on PostgreSQL.

A user's question is not a query language: it goes through the index's own analysis
(autan.retrieval.analysis: stemmed, folded, no function words), and each remaining word is
quoted and OR-ed, so that ranking decides (BM25 rewards passages holding the rarer words) and
no character of the question can be read as FTS5 or tsquery syntax.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BindParameter, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from autan.retrieval.analysis import fts5_query, query_terms, tsquery
from autan.retrieval.filters import Scope

# On SQLite, bm25() is lower for better matches; the document title and headings count
# double (a passage under "Conditions d'attribution" is about those conditions). Joining
# every match to its chunk row costs more than ranking it (chunk rows are large), so the
# index is ranked alone first and only its best rows are joined and filtered by scope. The
# inner order is total (score, then rowid), so the filtered prefix is exactly the scope's
# own ranking.
_SQLITE_TOP = """
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
_SQLITE_SCOPED = """
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

# ts_rank has no IDF: normalisation 1 (divide by 1 + log length) keeps long chunks from
# winning on repetitions alone. The words are already analysed, hence the 'simple' parser.
_POSTGRESQL = """
SELECT c.id, ts_rank(c.search_vector, q.query, 1) AS score
FROM chunks AS c
JOIN documents AS d ON d.id = c.document_id,
     to_tsquery('simple', :match) AS q(query)
WHERE c.search_vector @@ q.query AND d.status = 'ready' AND ({scope})
ORDER BY score DESC, c.id
LIMIT :limit
"""


# How many of the whole index's best matches are looked at before ranking the scope alone.
TOP_DEPTH = 200


async def lexical_search(
    session: AsyncSession, query: str, scope: Scope, limit: int
) -> list[tuple[int, float]]:
    """The best `limit` chunks of the scope for the words of `query`: (chunk id, score)."""
    terms = query_terms(query)
    if not terms or scope.empty:
        return []
    if session.get_bind().dialect.name == "postgresql":
        sql = _POSTGRESQL.format(scope=scope.sql("c"))
        return await _ranked(session, sql, scope, {"match": tsquery(terms), "limit": limit})
    match = fts5_query(terms)
    depth = max(4 * limit, TOP_DEPTH)
    found = await _ranked(
        session,
        _SQLITE_TOP.format(scope=scope.sql("c")),
        scope,
        {"match": match, "limit": limit, "depth": depth},
    )
    if len(found) < limit and await _matches_beyond(session, match, depth):
        # The scope's rows are too rare among the index's best: rank the scope alone.
        sql = _SQLITE_SCOPED.format(scope=scope.sql("c"))
        found = await _ranked(session, sql, scope, {"match": match, "limit": limit})
    return found


async def _matches_beyond(session: AsyncSession, match: str, depth: int) -> bool:
    """Whether the index holds more than `depth` matches (the first pass saw them all if not)."""
    statement = text(
        "SELECT count(*) FROM (SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH :match LIMIT :n)"
    )
    count = await session.scalar(statement, {"match": match, "n": depth + 1})
    return int(count or 0) > depth


async def _ranked(
    session: AsyncSession, sql: str, scope: Scope, parameters: dict[str, object]
) -> list[tuple[int, float]]:
    names: list[BindParameter[Any]] = [bindparam(name) for name in parameters]
    statement = text(sql).bindparams(*scope.bindparams(), *names)
    rows = await session.execute(statement, parameters)
    return [(int(chunk_id), float(score)) for chunk_id, score in rows]
