"""The engine seam, and PostgreSQL's search strategies on an index large enough to need them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts import service as accounts
from autan.core.db import create_engine, session_factory
from autan.documents.models import Collection, Document, DocumentStatus, Visibility
from autan.retrieval.analysis import index_words
from autan.retrieval.backend import backend_for
from autan.retrieval.filters import Scope
from autan.retrieval.postgres_backend import PostgresBackend
from autan.retrieval.search import Method, search
from autan.retrieval.sqlite_backend import SqliteBackend

Maker = async_sessionmaker[AsyncSession]
# At 20,000 chunks, the vectors alone take a minute to write on two cores; the strategies
# below are shown on backends with lower thresholds.
OTHERS = 2_000
PRIVATE = 10
UNEMBEDDED = 1_000
WORDS = index_words(["Un passage sur le permis de conduire."])
DOCUMENTS = 10  # per collection


@dataclass(frozen=True)
class Index:
    maker: Maker
    others: uuid.UUID
    private: uuid.UUID
    unembedded: uuid.UUID
    query: np.ndarray


async def test_the_backend_follows_the_engine(session_maker: Maker, database_url: str) -> None:
    async with session_maker() as session:
        backend = backend_for(session)
    expected = SqliteBackend if database_url.startswith("sqlite") else PostgresBackend
    assert isinstance(backend, expected)


def test_the_lexical_gate_reads_the_rarest_words_first_within_its_budget() -> None:
    backend = PostgresBackend(gate_rows=60)
    counts = {"demand": 600, "passeport": 40, "perdu": 45, "xylophon": 0}
    terms = list(counts)
    # "demand" is common (over 5% of 1,000) and stays out; the rarest word is always read,
    # the next only if their rows fit the budget (40 + 45 > 60).
    assert backend.gate(terms, counts, total=1_000) == ["passeport"]
    assert PostgresBackend(gate_rows=100).gate(terms, counts, total=1_000) == [
        "passeport",
        "perdu",
    ]
    # No rarer word held by any chunk: every word is read, or nothing would match.
    assert backend.gate(["demand"], {"demand": 600}, total=1_000) == ["demand"]


@pytest.fixture
async def large_index(postgresql_databases: object) -> AsyncIterator[Index]:
    """On PostgreSQL: OTHERS chunks with random vectors in one collection, PRIVATE chunks in
    another with vectors opposite to the query's (the farthest of all), and UNEMBEDDED chunks
    without vectors (found by words only) in a third."""
    url: str = postgresql_databases.new()  # type: ignore[attr-defined]
    engine = create_engine(url)
    maker = session_factory(engine)
    rng = np.random.default_rng(0)
    query = rng.standard_normal(384).astype(np.float32)
    query /= np.linalg.norm(query)
    zero = [0.0] * 384
    layout = {  # collection: (chunks, centre of the vectors, spread, embedded)
        "others": (OTHERS, zero, 1.0, True),
        "private": (PRIVATE, (-query).tolist(), 0.01, True),
        "unembedded": (UNEMBEDDED, zero, 1.0, False),
    }
    async with maker() as session:
        user = await accounts.create_user(session, f"{uuid.uuid4().hex[:8]}@example.org")
        ids = {}
        for name, (chunks, centre, spread, embedded) in layout.items():
            collection = Collection(
                org_id=user.org_id, owner_id=user.id, name=name, visibility=Visibility.PRIVATE
            )
            session.add(collection)
            await session.flush()
            ids[name] = collection.id
            for n in range(DOCUMENTS):
                document = Document(
                    collection_id=collection.id,
                    owner_id=user.id,
                    org_id=user.org_id,
                    name=f"{name}-{n}.txt",
                    format="txt",
                    size_bytes=1,
                    sha256=uuid.uuid4().hex,
                    status=DocumentStatus.READY,
                )
                session.add(document)
                await session.flush()
                # Written by SQL: through the index, thousands of rows would take minutes.
                await session.execute(
                    text(_ROWS),
                    {
                        "document": document.id,
                        "collection": collection.id,
                        "centre": "[" + ",".join(map(str, centre)) + "]",
                        "spread": spread,
                        "embedded": embedded,
                        "rows": chunks // DOCUMENTS,
                        "words": WORDS,
                    },
                )
        await session.commit()
    try:
        yield Index(maker, ids["others"], ids["private"], ids["unembedded"], query)
    finally:
        await engine.dispose()


# One random vector per row (the subquery refers to the row, so it runs for each).
_ROWS = """
INSERT INTO chunks (document_id, collection_id, position, content, pages, headings,
                    lexical_headings, lexical_content, tokens, embedding)
SELECT :document, :collection, g, 'Un passage sur le permis de conduire.', '', '', '', :words, 0,
       CASE WHEN :embedded THEN CAST(:centre AS vector) + ARRAY(
           SELECT (random() - 0.5) * CAST(:spread AS float8)
           FROM generate_series(1, 384) WHERE g > 0
       )::vector END
FROM generate_series(1, :rows) AS g
"""


async def test_a_small_collection_among_many_chunks_gets_its_k_results(
    large_index: Index,
) -> None:
    index = large_index
    methods: tuple[Method, ...] = ("semantic", "hybrid", "lexical")
    for method in methods:
        async with index.maker() as session:
            hits = await search(
                session,
                query="permis",
                query_vector=index.query.tolist(),
                collection_ids=[index.private],
                k=5,
                method=method,
            )
        assert len(hits) == 5, method
        assert {hit.collection_id for hit in hits} == {index.private}
    async with index.maker() as session:
        # The large collection is searched through the HNSW graph, and fills its k too.
        scope = Scope.of([index.others], [])
        assert await PostgresBackend(exact_below=1_000).ef_search(session, scope, 5) == 100
        found = await PostgresBackend(exact_below=1_000).dense(
            session, index.query.tolist(), scope, 5
        )
        assert len(found) == 5
        hits = await search(
            session,
            query="permis",
            query_vector=index.query.tolist(),
            collection_ids=[index.others],
            k=5,
        )
        assert len(hits) == 5
        assert {hit.collection_id for hit in hits} == {index.others}
        # Planned for its own values, whatever the connection ran before.
        setting = await session.scalar(text("SELECT current_setting('plan_cache_mode')"))
        assert setting == "force_custom_plan"


async def test_dense_search_picks_exact_or_hnsw_and_falls_back_when_short(
    large_index: Index,
) -> None:
    index = large_index
    backend = PostgresBackend(exact_below=100)
    private = Scope.of([index.private], [])
    async with index.maker() as session:
        # Above the threshold, but too small a share for any ef_search pgvector allows.
        assert await backend.ef_search(session, private, 5) is None
        assert len(await backend.dense(session, index.query.tolist(), private, 5)) == 5
        # A scope large enough for the graph, whose vectors the walk never meets (the private
        # ones are the farthest, the others have none): the walk comes back empty and the
        # exact scan finds the scope's k.
        mixed = Scope.of([index.private, index.unembedded], [])
        assert await backend.ef_search(session, mixed, 5) == 100
        found = await backend.dense(session, index.query.tolist(), mixed, 5)
    assert len(found) == 5
