"""feedback records whether the person shares the exchange as an evaluation case

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 02:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing feedback was given without the question being asked: never shared.
    with op.batch_alter_table("feedback") as batch:
        batch.add_column(
            sa.Column("share_case", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("share_case")
