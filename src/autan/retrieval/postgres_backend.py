"""Search on PostgreSQL: full text over the analysed words, pgvector for vectors.

Three rules keep a search at tens of milliseconds on a million chunks (docs/architecture.md,
"Search over documents", has the plans and figures):
- every statement is planned for its own values (`plan_cache_mode = force_custom_plan`):
  asyncpg prepares each statement, and after five runs PostgreSQL may switch to a generic
  plan that guesses a scope's size from the number of collections, not from the collection
  searched;
- dense search picks its method from the scope's size: an exact scan of a small scope, the
  HNSW graph for a large one (pgvector 0.6 filters after the graph walk, so a scope holding a
  small share of the index would lose most of its neighbours);
- lexical search ranks a bounded set: the rows holding the question's rarer words, cheaply
  ordered by the IDF of the words they hold, and only the best few hundred get the full rank.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Uuid, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from autan.documents.models import DocumentStatus
from autan.retrieval.analysis import tsquery
from autan.retrieval.filters import Ranking, Scope, ranked
from autan.retrieval.vectors import database_key
from autan.retrieval.weights import common_words, idf

# Each term is ranked alone and weighted by its BM25 IDF (ts_rank has none: a passage holding
# "demande" would rank with one holding "passeport"): {rank} sums
# :w<i> * ts_rank(weights, vector, term <i>, 1). Normalisation 1 (divide by 1 + log length)
# keeps long chunks from winning on repetitions alone. The words are already analysed, hence
# 'simple'. Title and headings (weight A) count double the content (D), as on SQLite.
_WEIGHTS = "'{0.5, 0, 0, 1.0}'::float4[]"

# Stage 1 reads, per rarer word, the ids of the rows holding it (a GIN bitmap scan, no
# tsvector read) and orders rows by the summed IDF of the words they hold; stage 2 gives the
# full rank (which reads each row's tsvector, the costly part) to the best :depth only.
_LEXICAL = """
WITH candidates AS (
    SELECT id, sum(weight) AS cheap
    FROM ({branches}) AS holding
    GROUP BY id
    ORDER BY cheap DESC, id
    LIMIT :depth
)
SELECT c.id, {rank} AS score
FROM candidates JOIN chunks AS c ON c.id = candidates.id
ORDER BY score DESC, c.id
LIMIT :limit
"""
_BRANCH = """
SELECT c.id, CAST(:w{i} AS float8) AS weight FROM chunks AS c
WHERE c.search_vector @@ to_tsquery('simple', :t{i}) AND ({scope}){ready}
"""

# The inner query is the bare HNSW walk (ORDER BY distance LIMIT, nothing else to plan);
# the scope filters its :ef nearest neighbours afterwards, as pgvector 0.6 would anyway.
_HNSW = """
SELECT id, 1 - distance AS score
FROM (
    SELECT c.id, c.collection_id, c.document_id,
           c.embedding <=> CAST(:query AS vector) AS distance
    FROM chunks AS c
    WHERE c.embedding IS NOT NULL
    ORDER BY c.embedding <=> CAST(:query AS vector)
    LIMIT :ef
) AS c
WHERE ({scope}){ready}
ORDER BY distance, id
LIMIT :limit
"""
# Ordered by the score, not the distance, so no plan can use the (approximate) HNSW index.
_EXACT = """
SELECT c.id, 1 - (c.embedding <=> CAST(:query AS vector)) AS score
FROM chunks AS c
WHERE c.embedding IS NOT NULL AND ({scope}){ready}
ORDER BY score DESC, c.id
LIMIT :limit
"""
# Documents not searchable yet (queued, failed...): a handful, read by the status index once
# per statement (a hashed subplan), not one more round trip.
_UNREADY = ", ".join(f"'{status}'" for status in DocumentStatus if status != DocumentStatus.READY)
_ESTIMATED_ROWS = "SELECT reltuples::bigint FROM pg_class WHERE oid = 'chunks'::regclass"
# The lexemes ANALYZE found in a large share of the sampled rows, with that share.
_FREQUENT_WORDS = """
SELECT word, frequency
FROM pg_stats,
     unnest(most_common_elems::text::text[], most_common_elem_freqs) AS m(word, frequency)
WHERE schemaname = current_schema() AND tablename = 'chunks' AND attname = 'search_vector'
  AND word IN :terms
"""
_READY = f" AND c.document_id NOT IN (SELECT id FROM documents WHERE status IN ({_UNREADY}))"


class ScopeSizes:
    """How many chunks each collection holds, and the whole table, counted once a minute.

    Counting a million rows costs tens of milliseconds; a count a minute old only moves the
    choice between exact and HNSW search near the threshold, and both return the right rows.
    Writes through this process forget the counts of the collections they touch.
    """

    def __init__(self, ttl: float = 60.0) -> None:
        self.ttl = ttl
        self._counts: dict[tuple[str, uuid.UUID | None], tuple[int, float]] = {}

    def forget(self, collection_id: uuid.UUID | None) -> None:
        """Count this collection (and the table) again on next use."""
        for key in [k for k in self._counts if k[1] in (collection_id, None)]:
            del self._counts[key]

    async def total(self, session: AsyncSession) -> int:
        """Chunks in the table."""
        return await self._count(session, None, "SELECT count(*) FROM chunks", {})

    async def of(self, session: AsyncSession, scope: Scope) -> int:
        """Chunks in the scope (a chunk in a named collection and document counts twice)."""
        size = 0
        for collection_id in scope.collection_ids:
            size += await self._count(
                session,
                collection_id,
                "SELECT count(*) FROM chunks WHERE collection_id = :id",
                {"id": collection_id},
            )
        if scope.document_ids:
            # A conversation's attachments: few rows, counted every time.
            statement = text("SELECT count(*) FROM chunks WHERE document_id IN :ids").bindparams(
                bindparam("ids", list(scope.document_ids), expanding=True, type_=Uuid())
            )
            size += int(await session.scalar(statement) or 0)
        return size

    async def _count(
        self,
        session: AsyncSession,
        collection_id: uuid.UUID | None,
        sql: str,
        parameters: dict[str, Any],
    ) -> int:
        key, now = (database_key(session), collection_id), time.monotonic()
        count, checked = self._counts.get(key, (0, -self.ttl))
        if now - checked >= self.ttl:
            count = int(await session.scalar(text(sql), parameters) or 0)
            self._counts[key] = (count, now)
        return count


class PostgresBackend:
    """Full text and pgvector, with the strategies above; thresholds measured at 100,000
    and 1,000,000 chunks on two shared cores (benchmarks/results/retrieval.md)."""

    def __init__(
        self,
        *,
        exact_below: int = 5_000,
        max_ef_search: int = 1_000,
        lexical_depth: int = 300,
        gate_rows: int = 5_000,
        estimated_above: int = 2_000,
    ) -> None:
        # A scope of at most this many chunks is scanned exactly (~13 us a row here).
        self.exact_below = exact_below
        # pgvector caps hnsw.ef_search at 1,000.
        self.max_ef_search = max_ef_search
        self.lexical_depth = lexical_depth
        # Stage 1 reads at most about this many rows: the rarest words first, until their
        # rows would exceed it (the rarest word is always read).
        self.gate_rows = gate_rows
        # A word ANALYZE saw in more rows than this is not counted again.
        self.estimated_above = estimated_above
        self.sizes = ScopeSizes()

    async def count_chunks(self, session: AsyncSession) -> int:
        """How many chunks the table holds: the planner's estimate once it has one (counting
        a million rows takes a tenth of a second), else a count."""
        estimate = await session.scalar(text(_ESTIMATED_ROWS))
        if estimate is not None and estimate > 0:
            return int(estimate)
        return await self.sizes.total(session)

    async def count_terms(self, session: AsyncSession, terms: Sequence[str]) -> dict[str, int]:
        """How many chunks hold each term: frequent words from the table's statistics,
        the others counted (a GIN bitmap scan each, one round trip).

        Counting a word held by a quarter of the rows reads a quarter of the table (1.5 s at
        100,000 chunks); ANALYZE already measured such words (`most_common_elems`), and a
        frequent word's weight is small and barely moves with its exact count.
        """
        total = await self.count_chunks(session)
        counts: dict[str, int] = {}
        rows = await session.execute(
            text(_FREQUENT_WORDS).bindparams(bindparam("terms", expanding=True)),
            {"terms": list(terms)},
        )
        for term, frequency in rows:
            if frequency * total >= self.estimated_above:
                counts[str(term)] = round(frequency * total)
        rest = [t for t in terms if t not in counts]
        if rest:
            sums = ", ".join(
                f"(SELECT count(*) FROM chunks WHERE search_vector @@ to_tsquery('simple', :t{i}))"
                for i in range(len(rest))
            )
            parameters = {f"t{i}": tsquery([term]) for i, term in enumerate(rest)}
            row = (await session.execute(text(f"SELECT {sums}"), parameters)).one()
            counts.update({t: int(c) for t, c in zip(rest, row, strict=True)})
        return counts

    def gate(self, terms: Sequence[str], counts: dict[str, int], total: int) -> list[str]:
        """The words whose rows stage 1 reads: the rarer ones (as SQLite's gate), rarest
        first while their rows stay within `gate_rows`."""
        common = common_words(terms, counts, total)
        rare = sorted(
            (t for t in terms if t not in common and counts.get(t, 0) > 0),
            key=lambda t: counts.get(t, 0),
        )
        gate: list[str] = []
        rows = 0
        for term in rare or terms:
            rows += counts.get(term, 0)
            if gate and rows > self.gate_rows:
                break
            gate.append(term)
        return gate

    async def lexical(
        self,
        session: AsyncSession,
        terms: Sequence[str],
        counts: dict[str, int],
        total: int,
        scope: Scope,
        limit: int,
    ) -> Ranking:
        """IDF-weighted ts_rank over a bounded candidate set (see the module docstring)."""
        await _configure(session)
        gate = self.gate(terms, counts, total)
        branches = " UNION ALL ".join(
            _BRANCH.format(i=terms.index(term), scope=scope.sql("c"), ready=_READY) for term in gate
        )
        rank = " + ".join(
            f"CAST(:w{i} AS float8) * ts_rank({_WEIGHTS}, c.search_vector, "
            f"to_tsquery('simple', :t{i}), 1)"
            for i in range(len(terms))
        )
        parameters: dict[str, object] = {
            "limit": limit,
            "depth": max(self.lexical_depth, limit),
        }
        for i, term in enumerate(terms):
            parameters[f"t{i}"] = tsquery([term])
            parameters[f"w{i}"] = idf(counts.get(term, 0), total)
        sql = _LEXICAL.format(branches=branches, rank=rank)
        return await ranked(session, sql, scope, parameters)

    async def dense(
        self, session: AsyncSession, query_vector: Sequence[float], scope: Scope, limit: int
    ) -> Ranking:
        """Exact in a small scope; HNSW in a large one, exact again if it comes back short."""
        ef = await self.ef_search(session, scope, limit)
        await _configure(session, ef)
        return await self._dense(session, query_vector, scope, limit, ef)

    async def _dense(
        self,
        session: AsyncSession,
        query_vector: Sequence[float],
        scope: Scope,
        limit: int,
        ef: int | None,
    ) -> Ranking:
        parameters: dict[str, object] = {"query": _literal(query_vector), "limit": limit}
        if ef is not None:
            sql = _HNSW.format(scope=scope.sql("c"), ready=_READY)
            found = await ranked(session, sql, scope, {**parameters, "ef": ef})
            if len(found) >= limit:
                return found
        sql = _EXACT.format(scope=scope.sql("c"), ready=_READY)
        return await ranked(session, sql, scope, parameters)

    async def ef_search(self, session: AsyncSession, scope: Scope, limit: int) -> int | None:
        """How many neighbours the HNSW walk should gather for the scope to keep `limit`
        of them, or None when an exact scan is the better way (small scope, or too small a
        share of the index for any ef_search pgvector allows)."""
        size = await self.sizes.of(session, scope)
        if size <= self.exact_below:
            return None
        share = min(1.0, size / max(1, await self.sizes.total(session)))
        # Twice the expected need: the filter keeps `share` of the neighbours on average.
        wanted = math.ceil(2 * limit / share)
        if wanted > self.max_ef_search:
            return None
        return max(100, wanted)

    async def both(
        self,
        session: AsyncSession,
        lexical: Callable[[], Awaitable[Ranking]],
        query_vector: Sequence[float],
        scope: Scope,
        limit: int,
    ) -> tuple[Ranking, Ranking]:
        """Both rankings, one after the other (a session runs one statement at a time);
        the settings of both go in one round trip."""
        ef = await self.ef_search(session, scope, limit)
        await _configure(session, ef)
        words = await lexical()
        return words, await self._dense(session, query_vector, scope, limit, ef)

    def chunks_written(self, collection_ids: Iterable[uuid.UUID | None]) -> None:
        """Count these collections again on next search."""
        for collection_id in collection_ids:
            self.sizes.forget(collection_id)


_CONFIGURED = "autan.retrieval.custom_plans"


async def _configure(session: AsyncSession, ef_search: int | None = None) -> None:
    """Custom plans (see the module docstring) and the HNSW walk's breadth, for the rest of
    the search's transaction; one round trip, none when already done in this transaction."""
    transaction = session.get_transaction()
    settings = []
    if transaction is None or session.info.get(_CONFIGURED) is not transaction:
        settings.append("set_config('plan_cache_mode', 'force_custom_plan', true)")
    if ef_search is not None:
        settings.append(f"set_config('hnsw.ef_search', '{int(ef_search)}', true)")
    if settings:
        await session.execute(text(f"SELECT {', '.join(settings)}"))
        session.info[_CONFIGURED] = session.get_transaction()


def _literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


POSTGRES = PostgresBackend()
