"""Bring a database schema up to date with Alembic, on SQLite or PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

_SCRIPTS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config() -> Config:
    """An Alembic configuration pointing at the migrations shipped in the package."""
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    return config


# The lexical and vector indexes of `chunks` differ per engine (FTS5 tables and triggers on
# SQLite; a generated tsvector, GIN and HNSW indexes on PostgreSQL): migration 0005 makes
# them, the models do not describe them, so comparisons with the models skip them.
_ENGINE_SPECIFIC = {"search_vector", "ix_chunks_search_vector", "ix_chunks_embedding_hnsw"}


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Whether Alembic compares a database object with the models (not engine-specific indexes)."""
    if name is None:
        return True
    return name not in _ENGINE_SPECIFIC and not (type_ == "table" and name.startswith("chunks_fts"))


def _upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply every pending migration."""
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Serialise concurrent `autan migrate` runs (several server processes starting).
            await connection.exec_driver_sql("SELECT pg_advisory_xact_lock(424242)")
        await connection.run_sync(_upgrade, revision)
