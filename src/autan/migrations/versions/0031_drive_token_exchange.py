"""drive connections say how they authenticate: an app password or an OIDC token exchange

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07 05:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every existing connection was made with an app password.
    with op.batch_alter_table("drive_connections") as batch:
        batch.add_column(
            sa.Column(
                "auth_method", sa.String(16), nullable=False, server_default=sa.text("'password'")
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("drive_connections") as batch:
        batch.drop_column("auth_method")
