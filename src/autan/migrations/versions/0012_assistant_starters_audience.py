"""assistants: starter questions and who may use them (drafts for managers, or everyone)

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-06 16:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN on both engines: a SQLite batch copy would re-create the table.
    op.add_column("assistants", sa.Column("starters", sa.JSON(), nullable=True))
    # Assistants made before this revision were usable by every member: they stay so.
    op.add_column(
        "assistants",
        sa.Column("audience", sa.String(length=16), nullable=False, server_default="organisation"),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # In place, as 0010 does: a batch copy would re-create a table others refer to.
        op.execute("ALTER TABLE assistants DROP COLUMN audience")
        op.execute("ALTER TABLE assistants DROP COLUMN starters")
        return
    op.drop_column("assistants", "audience")
    op.drop_column("assistants", "starters")
