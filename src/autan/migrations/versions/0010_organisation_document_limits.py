"""per-organisation overrides of the document limits (characters, passages, unpacked bytes)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organisations") as batch_op:
        batch_op.add_column(sa.Column("document_limits", sa.JSON(), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite (3.35+) drops a column in place. A batch copy would drop and re-create
        # `organisations`, which the rows of `organisation_domains` (0008) refer to.
        op.execute("ALTER TABLE organisations DROP COLUMN document_limits")
        return
    op.drop_column("organisations", "document_limits")
