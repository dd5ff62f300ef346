"""drive_connections and drive_files: WebDAV folders synced into collections

Revision ID: 0027
Revises: 0023
Create Date: 2026-12-07 02:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "drive_connections",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "org_id",
            sa.Uuid(),
            sa.ForeignKey("organisations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "owner_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "collection_id",
            sa.Uuid(),
            sa.ForeignKey("collections.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("username", sa.String(320), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("paths", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sync_requested", sa.Boolean(), nullable=False),
        sa.Column("next_sync_at", _WHEN, nullable=False),
        sa.Column("running_since", _WHEN, nullable=True),
        sa.Column("last_sync_at", _WHEN, nullable=True),
        sa.Column("last_outcome", sa.String(16), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_template", sa.Text(), nullable=True),
        sa.Column("last_error_values", sa.JSON(), nullable=True),
        sa.Column("files_seen", sa.Integer(), nullable=False),
        sa.Column("files_added", sa.Integer(), nullable=False),
        sa.Column("files_updated", sa.Integer(), nullable=False),
        sa.Column("files_removed", sa.Integer(), nullable=False),
        sa.Column("files_failed", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("syncs", sa.Integer(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
    )
    op.create_index("ix_drive_connections_org_id", "drive_connections", ["org_id"])
    op.create_index("ix_drive_connections_owner_id", "drive_connections", ["owner_id"])
    op.create_index("ix_drive_connections_next_sync_at", "drive_connections", ["next_sync_at"])
    op.create_table(
        "drive_files",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "connection_id",
            sa.Uuid(),
            sa.ForeignKey("drive_connections.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("path", sa.String(2000), nullable=False),
        sa.Column("etag", sa.String(255), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column(
            "document_id",
            sa.Uuid(),
            sa.ForeignKey("documents.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_template", sa.Text(), nullable=True),
        sa.Column("error_values", sa.JSON(), nullable=True),
        sa.UniqueConstraint("connection_id", "path"),
    )
    op.create_index("ix_drive_files_connection_id", "drive_files", ["connection_id"])
    op.create_index("ix_drive_files_document_id", "drive_files", ["document_id"])


def downgrade() -> None:
    op.drop_table("drive_files")
    op.drop_table("drive_connections")
