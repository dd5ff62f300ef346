"""monthly token budgets per organisation and role, and the alerts raised for them

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 23:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import autan.core.db

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _org_id() -> sa.Column[object]:
    return sa.Column(
        "org_id",
        sa.Uuid(),
        sa.ForeignKey("organisations.id", ondelete="CASCADE"),
        primary_key=True,
    )


def upgrade() -> None:
    op.create_table(
        "budgets",
        _org_id(),
        sa.Column("role", sa.String(16), primary_key=True),
        sa.Column("tokens_per_month", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", autan.core.db.UTCDateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "budget_alerts",
        _org_id(),
        sa.Column("month", sa.Date(), primary_key=True),
        sa.Column("role", sa.String(16), primary_key=True),
        sa.Column("threshold", sa.Integer(), primary_key=True),
        sa.Column("created_at", autan.core.db.UTCDateTime(timezone=True), nullable=False),
    )
    # The budget check and the cockpit read one organisation's days: the primary key starts
    # with the day, so without this they read every organisation's rows of the period.
    op.create_index("ix_usage_days_org_day", "usage_days", ["org_id", "day"])


def downgrade() -> None:
    op.drop_index("ix_usage_days_org_day", table_name="usage_days")
    op.drop_table("budget_alerts")
    op.drop_table("budgets")
