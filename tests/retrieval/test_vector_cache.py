"""The in-memory vector matrices of SQLite dense search follow every write."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.retrieval.index import delete_document_chunks
from autan.retrieval.search import search
from autan.retrieval.vectors import decode, encode, matrix_cache
from tests.retrieval.corpus import Corpus, add_document, build, query_vector

Maker = async_sessionmaker[AsyncSession]
QUESTION = "Comment obtenir une aide pour payer son loyer ?"


def test_blob_codec_is_little_endian_float32() -> None:
    blob = encode([1.0, -2.5, 0.125])
    assert blob == b"\x00\x00\x80?\x00\x00 \xc0\x00\x00\x00>"
    assert decode(blob).tolist() == [1.0, -2.5, 0.125]


async def semantic(session_maker: Maker, corpus: Corpus) -> list[str]:
    async with session_maker() as session:
        hits = await search(
            session,
            query=QUESTION,
            query_vector=query_vector(QUESTION),
            collection_ids=[corpus.collections["A"]],
            method="semantic",
            k=1,
        )
    return [hit.document_name for hit in hits]


@pytest.fixture
async def sqlite_corpus(sqlite_databases: object) -> AsyncIterator[tuple[Maker, Corpus]]:
    from autan.core.db import create_engine, session_factory

    engine = create_engine(sqlite_databases.new())  # type: ignore[attr-defined]
    maker = session_factory(engine)
    async with maker() as session:
        corpus = await build(session)
    yield maker, corpus
    await engine.dispose()


async def test_writes_through_the_index_refresh_the_matrix(
    sqlite_corpus: tuple[Maker, Corpus],
) -> None:
    session_maker, corpus = sqlite_corpus
    matrix_cache.clear()
    loads = matrix_cache.loads
    assert await semantic(session_maker, corpus) != ["aides.txt"]
    assert await semantic(session_maker, corpus) != ["aides.txt"]
    assert matrix_cache.loads == loads + 1  # read once, then served from memory

    async with session_maker() as session:
        document = await add_document(
            session,
            corpus,
            "aides.txt",
            ["L'aide personnalisée au logement (APL) réduit le loyer des locataires."],
            collection="A",
        )
        await session.commit()
    assert await semantic(session_maker, corpus) == ["aides.txt"]
    assert matrix_cache.loads == loads + 2

    async with session_maker() as session:
        await delete_document_chunks(session, document.id)
        await session.commit()
    assert await semantic(session_maker, corpus) != ["aides.txt"]
    assert matrix_cache.loads == loads + 3


async def test_writes_by_another_process_are_seen(
    sqlite_corpus: tuple[Maker, Corpus], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that bypasses this process's cache (another server process) is still seen."""
    session_maker, corpus = sqlite_corpus
    monkeypatch.setattr(matrix_cache, "revalidate_after", 0.0)
    async with session_maker() as session:
        document = await add_document(
            session,
            corpus,
            "aides.txt",
            ["L'aide personnalisée au logement (APL) réduit le loyer des locataires."],
            collection="A",
        )
        await session.commit()
    assert await semantic(session_maker, corpus) == ["aides.txt"]
    async with session_maker() as session:
        # Raw SQL: no call into autan.retrieval.index, so nothing invalidates the cache.
        await session.execute(
            text("DELETE FROM chunks WHERE document_id = :id"), {"id": document.id.hex}
        )
        await session.commit()
    assert await semantic(session_maker, corpus) != ["aides.txt"]
