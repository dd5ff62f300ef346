"""arena_comparisons.answer_a_id / answer_b_id; covering indexes for the cockpit on SQLite

A pair asked from the chat lives in the middle of a conversation, not at its start: the
comparison names its two answer messages (set to NULL when retention or the owner deletes
them, as the conversation link already is).

The cockpit's distinct-people counts and feedback counts read covering indexes: on
SQLite, the narrower indexes made one table lookup per index entry (hundreds of thousands
per page for the year's views).

Revision ID: 0025
Revises: 0028
Create Date: 2026-12-07 02:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("answer_a_id", "answer_b_id")
_PEOPLE = ("user_id", "model", "channel", "role")
# (index, table, columns before, columns after)
_INDEXES = (
    (
        "ix_usage_user_days_org_day",
        "usage_user_days",
        ["org_id", "day"],
        ["org_id", "day", *_PEOPLE],
    ),
    (
        "ix_usage_user_periods_org",
        "usage_user_periods",
        ["org_id", "period", "start", "user_id"],
        ["org_id", "period", "start", *_PEOPLE],
    ),
)


def upgrade() -> None:
    # Batch mode: SQLite cannot add a foreign key with ALTER TABLE; it copies the table
    # (small: one row per vote). PostgreSQL gets plain ALTER TABLE statements.
    with op.batch_alter_table("arena_comparisons") as batch:
        for column in _COLUMNS:
            batch.add_column(sa.Column(column, sa.Uuid(), nullable=True))
            batch.create_foreign_key(
                f"fk_arena_comparisons_{column}", "messages", [column], ["id"], ondelete="SET NULL"
            )

    for name, table, _, after in _INDEXES:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, after)
    op.create_index("ix_feedback_org_created", "feedback", ["org_id", "created_at", "model"])


def downgrade() -> None:
    op.drop_index("ix_feedback_org_created", table_name="feedback")
    for name, table, before, _ in _INDEXES:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, before)
    with op.batch_alter_table("arena_comparisons") as batch:
        for column in _COLUMNS:
            batch.drop_constraint(f"fk_arena_comparisons_{column}", type_="foreignkey")
            batch.drop_column(column)
