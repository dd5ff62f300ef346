"""web search: organisation domain allow/block lists, the switch of each conversation

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ORG_COLUMNS = ("web_allowed_domains", "web_blocked_domains")


def upgrade() -> None:
    # Plain ADD COLUMN on both engines: a batch copy of `organisations` would drop and
    # re-create a table that other rows refer to.
    for name in _ORG_COLUMNS:
        op.add_column("organisations", sa.Column(name, sa.JSON(), nullable=True))
    op.add_column(
        "conversations",
        sa.Column("web_search", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    tables = [("conversations", "web_search"), *(("organisations", n) for n in _ORG_COLUMNS)]
    for table, name in tables:
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f"ALTER TABLE {table} DROP COLUMN {name}")
        else:
            op.drop_column(table, name)
