"""organisations.deep_research_allowed: web access becomes three-way (off / search / research)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 23:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # True for every existing organisation: deep research was open wherever web search was,
    # so nothing changes for them until a referent chooses "web search only".
    op.add_column(
        "organisations",
        sa.Column("deep_research_allowed", sa.Boolean(), nullable=False, server_default=sa.true()),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE organisations DROP COLUMN deep_research_allowed")
        return
    op.drop_column("organisations", "deep_research_allowed")
