"""The migrations build exactly the schema the models describe, on both engines."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Uuid, bindparam, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from autan.core.db import create_engine, session_factory
from autan.core.migrate import alembic_config, include_name, upgrade
from autan.core.models_registry import metadata
from autan.retrieval.search import search
from tests.retrieval.corpus import build

ORG_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_name": include_name}
    )
    return list(compare_metadata(context, metadata))


async def test_models_and_migrations_agree(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)  # a second run is a no-op
        async with engine.connect() as connection:
            differences = await connection.run_sync(_differences)
    finally:
        await engine.dispose()
    assert differences == []


@contextlib.asynccontextmanager
async def _fresh_engine(databases: object) -> AsyncIterator[AsyncEngine]:
    """An engine on a new, unmigrated database of these databases' engine."""
    engine = create_engine(databases.fresh())  # type: ignore[attr-defined]
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_upgrading_a_database_that_holds_data(
    sqlite_databases: object, postgresql_databases: object
) -> None:
    """Each migration applies on top of rows written by the previous schema."""
    for databases in (sqlite_databases, postgresql_databases):
        async with _fresh_engine(databases) as engine:
            await upgrade(engine, "0001")
            async with engine.begin() as connection:
                await connection.execute(
                    text(
                        "INSERT INTO organisations (id, slug, name, created_at) "
                        "VALUES (:id, 'cnrs', 'CNRS', CURRENT_TIMESTAMP)"
                    ).bindparams(bindparam("id", type_=Uuid())),
                    {"id": ORG_ID},
                )
            await upgrade(engine)
            async with engine.connect() as connection:
                row = (
                    await connection.execute(
                        text("SELECT allowed_domains, web_search_allowed FROM organisations")
                    )
                ).one()
        assert row[1] in (True, 1) and row[0] in ([], "[]")


def _downgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


async def test_chunks_indexed_before_0007_are_found_by_their_stems(
    sqlite_databases: object, postgresql_databases: object
) -> None:
    """0007 analyses the chunks already there; its downgrade gives back the old index."""
    for databases in (sqlite_databases, postgresql_databases):
        async with _fresh_engine(databases) as engine:
            await upgrade(engine)
            async with session_factory(engine)() as session:
                corpus = await build(session)
            async with engine.begin() as connection:
                await connection.run_sync(_downgrade, "0006")
            async with session_factory(engine)() as session:
                # The old index held folded words only.
                old = await session.execute(
                    text(
                        "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH 'securite'"
                        if engine.dialect.name == "sqlite"
                        else "SELECT count(*) FROM chunks WHERE search_vector @@ "
                        "to_tsquery('french', 'securite')"
                    )
                )
                assert old.scalar() == 3
            await upgrade(engine)
            async with session_factory(engine)() as session:
                hits = await search(
                    session,
                    query="remboursements, santé",
                    query_vector=None,
                    collection_ids=[corpus.collections["A"]],
                    method="lexical",
                )
        # Stems ("rembourse") and the document title ("sante") reach the old chunks.
        assert [h.document_name for h in hits] == ["sante.txt", "sante.txt"]
        assert hits[0].content.startswith("La Sécurité sociale rembourse")
