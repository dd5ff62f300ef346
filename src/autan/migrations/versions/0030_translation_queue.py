"""translation jobs become leased jobs of the worker queue, keeping finished sections

Revision ID: 0030
Revises: 0026
Create Date: 2026-12-07 05:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import autan.core.db

revision: str = "0030"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("translation_jobs") as batch:
        # The heartbeat of the worker holding the job: stale, the job is taken over.
        batch.add_column(
            sa.Column(
                "updated_at",
                autan.core.db.UTCDateTime(timezone=True),
                nullable=False,
                server_default=sa.func.current_timestamp(),
            )
        )
        batch.add_column(
            sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        # The translated segments of the sections done so far: a resumed job skips them.
        batch.add_column(sa.Column("translated", sa.JSON(), nullable=True))
        # Emptied when the uploaded file is deleted before its translation ends.
        batch.alter_column("source", existing_type=sa.LargeBinary(), nullable=True)
    op.create_index("ix_translation_jobs_status", "translation_jobs", ["status"])


def downgrade() -> None:
    op.drop_index("ix_translation_jobs_status", "translation_jobs")
    with op.batch_alter_table("translation_jobs") as batch:
        batch.alter_column("source", existing_type=sa.LargeBinary(), nullable=False)
        batch.drop_column("translated")
        batch.drop_column("attempts")
        batch.drop_column("updated_at")
