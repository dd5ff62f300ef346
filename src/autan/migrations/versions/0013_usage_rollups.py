"""usage rollups per day (cockpit) and the requester's role on usage rows

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-06 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG = sa.BigInteger()


def upgrade() -> None:
    with op.batch_alter_table("usage_records") as batch_op:
        batch_op.add_column(sa.Column("role", sa.String(16), nullable=True))
    op.create_table(
        "usage_days",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("org_id", sa.Uuid(), primary_key=True),
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("endpoint", sa.String(32), primary_key=True),
        sa.Column("channel", sa.String(8), primary_key=True),
        sa.Column("role", sa.String(16), primary_key=True),
        sa.Column("requests", _BIG, nullable=False),
        sa.Column("errors", _BIG, nullable=False),
        sa.Column("prompt_tokens", _BIG, nullable=False),
        sa.Column("completion_tokens", _BIG, nullable=False),
    )
    op.create_table(
        "usage_user_days",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("org_id", sa.Uuid(), primary_key=True),
        sa.Column(
            "user_id",
            sa.Uuid(),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("channel", sa.String(8), primary_key=True),
        sa.Column("role", sa.String(16), primary_key=True),
        sa.Column("requests", _BIG, nullable=False),
    )
    op.create_index("ix_usage_user_days_org_day", "usage_user_days", ["org_id", "day"])
    # Rows written before this revision are rolled up by `autan demo rollup` (or the
    # first `autan demo seed`): a data migration here would hold the table for minutes.


def downgrade() -> None:
    op.drop_index("ix_usage_user_days_org_day", table_name="usage_user_days")
    op.drop_table("usage_user_days")
    op.drop_table("usage_days")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE usage_records DROP COLUMN role")
        return
    op.drop_column("usage_records", "role")
