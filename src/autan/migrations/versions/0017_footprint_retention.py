"""energy and CO2 per answer (usage rows, rollups, messages), show_impacts, retention rules

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import autan.core.db

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_IMPACTS = ("energy_kwh_min", "energy_kwh_max", "gwp_g_min", "gwp_g_max")


def upgrade() -> None:
    # Plain ADD COLUMN on both engines: batch mode would copy and drop `organisations` and
    # `messages` on SQLite, which their referencing rows forbid with foreign keys on.
    for name in _IMPACTS:
        op.add_column("usage_records", sa.Column(name, sa.Float(), nullable=True))
    for name in _IMPACTS:
        op.add_column(
            "usage_days",
            sa.Column(name, sa.Float(), nullable=False, server_default=sa.text("0")),
        )
    op.add_column("messages", sa.Column("impacts", sa.JSON(), nullable=True))
    op.add_column(
        "organisations",
        sa.Column("show_impacts", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.create_table(
        "retention_rules",
        sa.Column(
            "org_id",
            sa.Uuid(),
            sa.ForeignKey("organisations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("conversation_days", sa.Integer(), nullable=True),
        sa.Column("document_days", sa.Integer(), nullable=True),
        sa.Column("usage_days", sa.Integer(), nullable=True),
        sa.Column("created_at", autan.core.db.UTCDateTime(timezone=True), nullable=False),
    )
    # The purge looks for old conversations of one organisation at a time.
    op.create_index("ix_conversations_org_updated", "conversations", ["org_id", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_conversations_org_updated", table_name="conversations")
    op.drop_table("retention_rules")
    columns = [
        ("organisations", "show_impacts"),
        ("messages", "impacts"),
        *(("usage_days", name) for name in _IMPACTS),
        *(("usage_records", name) for name in _IMPACTS),
    ]
    for table, column in columns:
        if op.get_bind().dialect.name == "sqlite":
            # SQLite drops a column in place (3.35+), without batch mode's table copy.
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        else:
            op.drop_column(table, column)
