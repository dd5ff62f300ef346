"""Dense search: cosine similarity between the query vector and the chunk vectors.

SQLite: exact search with NumPy over cached matrices (autan.retrieval.sqlite_backend).
PostgreSQL: pgvector, exact in a small scope and HNSW in a large one
(autan.retrieval.postgres_backend).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from autan.retrieval.backend import backend_for
from autan.retrieval.filters import Scope


async def dense_search(
    session: AsyncSession, query_vector: Sequence[float], scope: Scope, limit: int
) -> list[tuple[int, float]]:
    """The `limit` chunks of the scope closest to `query_vector`: (chunk id, cosine)."""
    if scope.empty:
        return []
    return await backend_for(session).dense(session, query_vector, scope, limit)
