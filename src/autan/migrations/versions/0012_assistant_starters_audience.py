"""assistants: starter questions and who may use them (drafts for managers, or everyone)

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-06 16:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("assistants") as batch_op:
        batch_op.add_column(sa.Column("starters", sa.JSON(), nullable=True))
        # Assistants made before this revision were usable by every member: they stay so.
        batch_op.add_column(
            sa.Column(
                "audience", sa.String(length=16), nullable=False, server_default="organisation"
            )
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # In place, as 0010 does: a batch copy would re-create a table others refer to.
        op.execute("ALTER TABLE assistants DROP COLUMN audience")
        op.execute("ALTER TABLE assistants DROP COLUMN starters")
        return
    op.drop_column("assistants", "audience")
    op.drop_column("assistants", "starters")
