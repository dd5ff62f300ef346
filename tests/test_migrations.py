"""The migrations build exactly the schema the models describe, on both engines."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import JSON, Uuid, bindparam, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from autan.core.db import UTCDateTime, create_engine, session_factory
from autan.core.migrate import alembic_config, include_name, upgrade
from autan.migrations.models_registry import metadata
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


async def test_0008_gives_each_listed_domain_to_its_oldest_organisation(
    sqlite_databases: object, postgresql_databases: object
) -> None:
    """Existing allow-lists become rows; a domain listed twice stays with the older claim."""
    older, newer = ORG_ID, uuid.UUID("00000000-0000-4000-8000-000000000002")
    lists = {older: ["a.test", "Shared.TEST"], newer: ["shared.test", "b.test"]}
    for databases in (sqlite_databases, postgresql_databases):
        async with _fresh_engine(databases) as engine:
            await upgrade(engine, "0007")
            async with engine.begin() as connection:
                for offset, (org_id, slug) in enumerate(((older, "older"), (newer, "newer"))):
                    await connection.execute(
                        text(
                            "INSERT INTO organisations (id, slug, name, allowed_domains, "
                            "web_search_allowed, charter_version, created_at) VALUES (:id, "
                            ":slug, :slug, :domains, true, 1, :at)"
                        ).bindparams(
                            bindparam("id", type_=Uuid()),
                            bindparam("domains", type_=JSON()),
                            bindparam("at", type_=UTCDateTime(timezone=True)),
                        ),
                        {
                            "id": org_id,
                            "slug": slug,
                            "domains": lists[org_id],
                            "at": datetime(2026, 1, 1 + offset, tzinfo=UTC),
                        },
                    )
            await upgrade(engine)
            async with engine.connect() as connection:
                rows = await connection.execute(
                    text("SELECT domain, org_id FROM organisation_domains").columns(org_id=Uuid())
                )
                owners = {str(domain): org_id for domain, org_id in rows}
                listed = await _allowed_domains(connection)
            assert owners == {"a.test": older, "shared.test": older, "b.test": newer}
            assert listed == {"older": ["a.test", "shared.test"], "newer": ["b.test"]}
            async with engine.begin() as connection:
                await connection.run_sync(_downgrade, "0007")
            async with engine.connect() as connection:
                assert await _allowed_domains(connection) == listed
                tables = await connection.run_sync(lambda sync: sa_inspect(sync).get_table_names())
            assert "organisation_domains" not in tables


async def _allowed_domains(connection: AsyncConnection) -> dict[str, list[str]]:
    rows = await connection.execute(
        text("SELECT slug, allowed_domains FROM organisations").columns(allowed_domains=JSON())
    )
    return {str(slug): list(domains) for slug, domains in rows}
