"""docs_links, docs_tokens (La Suite's Docs as context) and translation_jobs

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 02:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import autan.core.db

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, autan.core.db.UTCDateTime(timezone=True), nullable=nullable)


def _owner() -> list[sa.Column[object]]:
    return [
        sa.Column(
            "user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "org_id",
            sa.Uuid(),
            sa.ForeignKey("organisations.id", ondelete="CASCADE"),
            nullable=False,
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "docs_links",
        sa.Column("id", sa.Uuid(), primary_key=True),
        *_owner(),
        sa.Column(
            "conversation_id",
            sa.Uuid(),
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column(
            "assistant_id",
            sa.Uuid(),
            sa.ForeignKey("assistants.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("docs_id", sa.String(64), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("docs_updated_at", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        _when("checked_at"),
        _when("created_at"),
    )
    op.create_index("ix_docs_links_conversation_id", "docs_links", ["conversation_id"])
    op.create_index("ix_docs_links_assistant_id", "docs_links", ["assistant_id"])
    op.create_index("ix_docs_links_user_id", "docs_links", ["user_id"])
    op.create_table(
        "docs_tokens",
        sa.Column(
            "user_id",
            sa.Uuid(),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        _when("created_at"),
    )
    op.create_table(
        "translation_jobs",
        sa.Column("id", sa.Uuid(), primary_key=True),
        *_owner(),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("fmt", sa.String(8), nullable=False),
        sa.Column("target_lang", sa.String(8), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("source", sa.LargeBinary(), nullable=False),
        sa.Column("result", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sections_done", sa.Integer(), nullable=False),
        sa.Column("sections_total", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _when("finished_at", nullable=True),
        _when("created_at"),
    )
    op.create_index(
        "ix_translation_jobs_user_id_created_at", "translation_jobs", ["user_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_table("translation_jobs")
    op.drop_table("docs_tokens")
    op.drop_table("docs_links")
