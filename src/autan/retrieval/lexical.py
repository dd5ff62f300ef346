"""Lexical search: BM25 over FTS5 on SQLite, IDF-weighted full text on PostgreSQL.

A user's question is not a query language: it goes through the index's own analysis
(autan.retrieval.analysis: stemmed, folded, no function words), and each remaining word is
quoted and OR-ed, so that ranking decides (BM25 rewards passages holding the rarer words) and
no character of the question can be read as FTS5 or tsquery syntax. The engines' queries are
in autan.retrieval.sqlite_backend and autan.retrieval.postgres_backend.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from autan.retrieval.analysis import query_terms
from autan.retrieval.backend import backend_for
from autan.retrieval.filters import Scope
from autan.retrieval.sqlite_backend import TOP_DEPTH
from autan.retrieval.vectors import database_key
from autan.retrieval.weights import COMMON_SHARE, common_words, idf

__all__ = [
    "COMMON_SHARE",
    "TOP_DEPTH",
    "TermCounts",
    "common_words",
    "idf",
    "lexical_search",
    "term_counts",
]


class TermCounts:
    """How many chunks hold each word, remembered for a while.

    Counting a frequent word reads its whole posting list (~15 ms at 100,000 chunks), but
    frequent words are the ones questions repeat, so counts are kept (`ttl` seconds, per
    database). A count a minute old only slightly shifts a word's weight or whether it is
    common.
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
        backend = backend_for(session)
        database, now = database_key(session), time.monotonic()
        total, checked = self._totals.get(database, (0, -self.ttl))
        if now - checked >= self.ttl:
            total = await backend.count_chunks(session)
            self._totals[database] = (total, now)
        unknown = (0, -self.ttl)
        stale = [t for t in terms if now - self._counts.get((database, t), unknown)[1] >= self.ttl]
        if stale:
            if len(self._counts) + len(stale) > self.max_words:
                self._counts.clear()
            found = await backend.count_terms(session, stale)
            for term in stale:
                self._counts[(database, term)] = (found.get(term, 0), now)
        return {t: self._counts[(database, t)][0] for t in terms}, total


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
    return await backend_for(session).lexical(session, terms, counts, total, scope, limit)
