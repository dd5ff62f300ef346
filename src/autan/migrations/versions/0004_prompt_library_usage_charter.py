"""prompt library, usage charter

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import autan.core.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "prompt_templates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("updated_at", autan.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", autan.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_prompt_templates_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_prompt_templates_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompt_templates")),
    )
    op.create_index(
        op.f("ix_prompt_templates_owner_id"), "prompt_templates", ["owner_id"], unique=False
    )
    op.create_index(
        "ix_prompt_templates_org_visibility",
        "prompt_templates",
        ["org_id", "visibility"],
        unique=False,
    )
    # Existing organisations start at version 1 of the default charter; nobody has accepted it.
    with op.batch_alter_table("organisations") as batch:
        batch.add_column(sa.Column("charter_text", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("charter_version", sa.Integer(), nullable=False, server_default="1")
        )
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("charter_accepted_version", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column(
                "charter_accepted_at", autan.core.db.UTCDateTime(timezone=True), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("charter_accepted_at")
        batch.drop_column("charter_accepted_version")
    with op.batch_alter_table("organisations") as batch:
        batch.drop_column("charter_version")
        batch.drop_column("charter_text")
    op.drop_index("ix_prompt_templates_org_visibility", table_name="prompt_templates")
    op.drop_index(op.f("ix_prompt_templates_owner_id"), table_name="prompt_templates")
    op.drop_table("prompt_templates")
