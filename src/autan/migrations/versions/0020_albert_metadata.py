"""Albert API parity: document and chunk metadata, chunking options of an upload

Revision ID: 0020
Revises: 0018
Create Date: 2026-12-06 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (("documents", "metadata"), ("documents", "chunking"), ("chunks", "metadata"))


def upgrade() -> None:
    # Plain ADD COLUMN on both engines (nullable, no default): no table copy on SQLite.
    for table, column in _COLUMNS:
        op.add_column(table, sa.Column(column, sa.JSON(), nullable=True))


def downgrade() -> None:
    for table, column in reversed(_COLUMNS):
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        else:
            op.drop_column(table, column)
