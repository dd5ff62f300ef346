"""energy and CO2 per answer (usage rows, rollups, messages), show_impacts, retention rules

Revision ID: 0017
Revises: 0013
Create Date: 2026-12-06 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import autan.core.db

revision: str = "0017"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_IMPACTS = ("energy_kwh_min", "energy_kwh_max", "gwp_g_min", "gwp_g_max")


def upgrade() -> None:
    with op.batch_alter_table("usage_records") as batch_op:
        for name in _IMPACTS:
            batch_op.add_column(sa.Column(name, sa.Float(), nullable=True))
    with op.batch_alter_table("usage_days") as batch_op:
        for name in _IMPACTS:
            batch_op.add_column(
                sa.Column(name, sa.Float(), nullable=False, server_default=sa.text("0"))
            )
    with op.batch_alter_table("messages") as batch_op:
        batch_op.add_column(sa.Column("impacts", sa.JSON(), nullable=True))
    with op.batch_alter_table("organisations") as batch_op:
        batch_op.add_column(
            sa.Column("show_impacts", sa.Boolean(), nullable=False, server_default=sa.true())
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
    with op.batch_alter_table("organisations") as batch_op:
        batch_op.drop_column("show_impacts")
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_column("impacts")
    with op.batch_alter_table("usage_days") as batch_op:
        for name in _IMPACTS:
            batch_op.drop_column(name)
    with op.batch_alter_table("usage_records") as batch_op:
        for name in _IMPACTS:
            batch_op.drop_column(name)
