"""Alembic environment: runs on the connection handed over by `autan.core.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from autan.core.migrate import include_name
from autan.migrations.models_registry import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `autan migrate`")
_run(connection)
