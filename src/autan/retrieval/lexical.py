"""Lexical search: BM25 over FTS5 on SQLite, full text over the same words on PostgreSQL.

A user's question is not a query language: it goes through the index's own analysis
(autan.retrieval.analysis: stemmed, folded, no function words), and each remaining word is
quoted and OR-ed, so that ranking decides (BM25 rewards passages holding the rarer words) and
no character of the question can be read as FTS5 or tsquery syntax.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import BindParameter, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from autan.retrieval.analysis import fts5_query, query_terms, tsquery
from autan.retrieval.filters import Scope
from autan.retrieval.vectors import database_key

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

# ts_rank has no IDF (a passage holding "demande" would rank with one holding "passeport"),
# so each term is ranked alone and weighted by its BM25 IDF: {rank} sums
# :w<i> * ts_rank(weights, vector, term <i>, 1). Normalisation 1 (divide by 1 + log length)
# keeps long chunks from winning on repetitions alone. The words are already analysed, hence
# 'simple'. Title and headings (weight A) count double the content (D), as on SQLite: the
# default weights (1.0 against 0.1) let a title word outrank every passage's content.
_WEIGHTS = "'{0.5, 0, 0, 1.0}'::float4[]"
_POSTGRESQL = """
SELECT c.id, {rank} AS score
FROM chunks AS c
JOIN documents AS d ON d.id = c.document_id
WHERE c.search_vector @@ to_tsquery('simple', :match) AND d.status = 'ready' AND ({scope})
ORDER BY score DESC, c.id
LIMIT :limit
"""


# How many of the whole index's best matches are looked at before ranking the scope alone.
TOP_DEPTH = 200
# A word held by more than this share of the chunks is common (see fts5_query). At 100,000
# chunks the bare FTS5 query's p50 went from 52-63 to 21-22 ms; hybrid hit@1 on the benchmarks
# moved by half a point at most (0.852 -> 0.847 service-public, 0.753 -> 0.748 PIAF).
COMMON_SHARE = 0.05


class TermCounts:
    """How many chunks hold each word, remembered for a while.

    Counting a frequent word reads its whole posting list (~15 ms at 100,000 chunks), but
    frequent words are the ones questions repeat, so counts are kept (`ttl` seconds, per
    database). A count a minute old only slightly shifts a word's weight (PostgreSQL) or
    whether it is common (SQLite).
    """

    def __init__(self, ttl: float = 60.0, max_words: int = 200_000) -> None:
        self.ttl = ttl
        self.max_words = max_words
        self._counts: dict[tuple[str, str], tuple[int, float]] = {}
        self._totals: dict[str, tuple[int, float]] = {}

    def clear(self) -> None:
        """Forget every count."""
        self._counts.clear()
        self._totals.clear()

    async def counts(
        self, session: AsyncSession, terms: Sequence[str]
    ) -> tuple[dict[str, int], int]:
        """How many chunks hold each term, and how many chunks the index holds."""
        database, now = database_key(session), time.monotonic()
        total, checked = self._totals.get(database, (0, -self.ttl))
        if now - checked >= self.ttl:
            total = int(await session.scalar(text("SELECT count(*) FROM chunks")) or 0)
            self._totals[database] = (total, now)
        unknown = (0, -self.ttl)
        stale = [t for t in terms if now - self._counts.get((database, t), unknown)[1] >= self.ttl]
        if stale:
            if len(self._counts) + len(stale) > self.max_words:
                self._counts.clear()
            found = await _count_chunks_holding(session, stale)
            for term in stale:
                self._counts[(database, term)] = (found.get(term, 0), now)
        return {t: self._counts[(database, t)][0] for t in terms}, total


async def _count_chunks_holding(session: AsyncSession, terms: Sequence[str]) -> dict[str, int]:
    if session.get_bind().dialect.name == "postgresql":
        # One pass over the chunks holding any of the terms, one count per term.
        counts = ", ".join(
            f"count(*) FILTER (WHERE search_vector @@ to_tsquery('simple', :t{i}))"
            for i in range(len(terms))
        )
        statement = text(
            f"SELECT {counts} FROM chunks WHERE search_vector @@ to_tsquery('simple', :match)"
        )
        parameters = {f"t{i}": tsquery([term]) for i, term in enumerate(terms)}
        row = (await session.execute(statement, {**parameters, "match": tsquery(terms)})).one()
        return {term: int(count) for term, count in zip(terms, row, strict=True)}
    rows = await session.execute(
        text("SELECT term, doc FROM chunks_fts_vocab WHERE term IN :terms").bindparams(
            bindparam("terms", expanding=True)
        ),
        {"terms": list(terms)},
    )
    return {str(term): int(count) for term, count in rows}


def idf(count: int, total: int) -> float:
    """BM25's inverse document frequency of a word held by `count` of `total` chunks."""
    return math.log(1 + (total - count + 0.5) / (count + 0.5))


def common_words(terms: Sequence[str], counts: dict[str, int], total: int) -> frozenset[str]:
    """The terms held by more than COMMON_SHARE of the chunks, which fts5_query keeps out of
    its gate; none when no other term is held by any chunk (the gate would match nothing).

    A count of 0 may be a few minutes old (a document just added): such a word still goes
    into the gate, but cannot open it alone.
    """
    common = frozenset(t for t in terms if counts[t] > COMMON_SHARE * total)
    if not any(counts[t] > 0 for t in terms if t not in common):
        return frozenset()
    return common


# One per process, like the vector matrices.
term_counts = TermCounts()


async def lexical_search(
    session: AsyncSession, query: str, scope: Scope, limit: int
) -> list[tuple[int, float]]:
    """The best `limit` chunks of the scope for the words of `query`: (chunk id, score)."""
    terms = query_terms(query)
    if not terms or scope.empty:
        return []
    counts, total = await term_counts.counts(session, terms)
    if session.get_bind().dialect.name == "postgresql":
        rank = " + ".join(
            f"CAST(:w{i} AS float8) * ts_rank({_WEIGHTS}, c.search_vector, "
            f"to_tsquery('simple', :t{i}), 1)"
            for i in range(len(terms))
        )
        parameters: dict[str, object] = {"match": tsquery(terms), "limit": limit}
        for i, term in enumerate(terms):
            parameters[f"t{i}"] = tsquery([term])
            parameters[f"w{i}"] = idf(counts[term], total)
        sql = _POSTGRESQL.format(scope=scope.sql("c"), rank=rank)
        return await _ranked(session, sql, scope, parameters)
    match = fts5_query(terms, common_words(terms, counts, total))
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
