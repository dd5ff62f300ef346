"""arena_comparisons.answer_a_id / answer_b_id: the two answers of a pair, wherever they sit

A pair asked from the chat lives in the middle of a conversation, not at its start: the
comparison names its two answer messages (set to NULL when retention or the owner deletes
them, as the conversation link already is).

Revision ID: 0025
Revises: 0023
Create Date: 2026-12-07 02:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("answer_a_id", "answer_b_id")


def upgrade() -> None:
    # Batch mode: SQLite cannot add a foreign key with ALTER TABLE; it copies the table
    # (small: one row per vote). PostgreSQL gets plain ALTER TABLE statements.
    with op.batch_alter_table("arena_comparisons") as batch:
        for column in _COLUMNS:
            batch.add_column(sa.Column(column, sa.Uuid(), nullable=True))
            batch.create_foreign_key(
                f"fk_arena_comparisons_{column}", "messages", [column], ["id"], ondelete="SET NULL"
            )


def downgrade() -> None:
    with op.batch_alter_table("arena_comparisons") as batch:
        for column in _COLUMNS:
            batch.drop_constraint(f"fk_arena_comparisons_{column}", type_="foreignkey")
            batch.drop_column(column)
