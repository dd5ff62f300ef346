"""access codes carry the role they grant (member unless said otherwise)

Revision ID: 0021
Revises: 0017
Create Date: 2026-12-06 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN with a server default: existing codes keep granting "member".
    op.add_column(
        "access_codes",
        sa.Column("role", sa.String(16), nullable=False, server_default="member"),
    )


def downgrade() -> None:
    with op.batch_alter_table("access_codes") as batch:
        batch.drop_column("role")
