"""The engine-specific half of search and indexing, behind one interface.

Everything SQLite and PostgreSQL do differently (lexical ranking, dense search, counting
words, what an index write must refresh) lives in one backend per engine; the modules above
(lexical, dense, search, index) ask `backend_for(session)` and never test the dialect.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from autan.retrieval.filters import Ranking, Scope
from autan.retrieval.postgres_backend import POSTGRES
from autan.retrieval.sqlite_backend import SQLITE


class SearchBackend(Protocol):
    """What search and indexing need from a database engine."""

    async def count_chunks(self, session: AsyncSession) -> int:
        """How many chunks the index holds (an estimate is enough: it weighs words)."""
        ...

    async def count_terms(self, session: AsyncSession, terms: Sequence[str]) -> dict[str, int]:
        """How many chunks hold each term (terms held by none may be left out)."""
        ...

    async def lexical(
        self,
        session: AsyncSession,
        terms: Sequence[str],
        counts: dict[str, int],
        total: int,
        scope: Scope,
        limit: int,
    ) -> Ranking:
        """The best `limit` chunks of the scope for these analysed words: (chunk id, score)."""
        ...

    async def dense(
        self, session: AsyncSession, query_vector: Sequence[float], scope: Scope, limit: int
    ) -> Ranking:
        """The `limit` chunks of the scope closest to the vector: (chunk id, cosine)."""
        ...

    async def both(
        self,
        session: AsyncSession,
        lexical: Callable[[], Awaitable[Ranking]],
        query_vector: Sequence[float],
        scope: Scope,
        limit: int,
    ) -> tuple[Ranking, Ranking]:
        """The lexical ranking `lexical()` gives and the dense one, for hybrid search."""
        ...

    def chunks_written(self, collection_ids: Iterable[uuid.UUID | None]) -> None:
        """Chunks of these collections were added or removed through this process."""
        ...


_BACKENDS: dict[str, SearchBackend] = {"sqlite": SQLITE, "postgresql": POSTGRES}


def backend_for(session: AsyncSession) -> SearchBackend:
    """The backend of the session's engine, chosen by its dialect."""
    return _BACKENDS[session.get_bind().dialect.name]
