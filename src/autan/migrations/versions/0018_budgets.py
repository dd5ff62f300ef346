"""monthly token budgets per organisation and role, the alerts raised for them, and the
weekly and monthly active-user rollup of the cockpit's long views

Revision ID: 0018
Revises: 0019
Create Date: 2026-12-06 23:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import autan.core.db

revision: str = "0018"
down_revision: str | None = "0019"
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
    op.create_table(
        "usage_user_periods",
        sa.Column("period", sa.String(1), primary_key=True),
        sa.Column("start", sa.Date(), primary_key=True),
        sa.Column("org_id", sa.Uuid(), primary_key=True),
        sa.Column(
            "user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("channel", sa.String(8), primary_key=True),
        sa.Column("role", sa.String(16), primary_key=True),
        sa.Column("requests", sa.BigInteger(), nullable=False),
    )
    op.create_index(
        "ix_usage_user_periods_org",
        "usage_user_periods",
        ["org_id", "period", "start", "user_id"],
    )
    # Filled from the user-day rollup, so the views read the same counts from day one.
    if op.get_bind().dialect.name == "postgresql":
        week = "CAST(date_trunc('week', day) AS DATE)"
        month = "CAST(date_trunc('month', day) AS DATE)"
    else:
        week = "date(day, '-6 days', 'weekday 1')"
        month = "date(day, 'start of month')"
    for period, start in (("w", week), ("m", month)):
        op.execute(
            "INSERT INTO usage_user_periods "
            "(period, start, org_id, user_id, model, channel, role, requests) "
            f"SELECT '{period}', {start} AS start, org_id, user_id, model, channel, role, "
            "SUM(requests) FROM usage_user_days "
            f"GROUP BY {start}, org_id, user_id, model, channel, role"
        )


def downgrade() -> None:
    op.drop_index("ix_usage_user_periods_org", table_name="usage_user_periods")
    op.drop_table("usage_user_periods")
    op.drop_index("ix_usage_days_org_day", table_name="usage_days")
    op.drop_table("budget_alerts")
    op.drop_table("budgets")
