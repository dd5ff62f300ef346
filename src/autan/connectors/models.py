"""Tables of drive connections and of the remote files each one keeps in its collection."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy import UniqueConstraint as Unique
from sqlalchemy.orm import Mapped, mapped_column

from autan.core.db import Base, TimestampMixin, new_id, utcnow


class DriveStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    # The person's access could not be renewed (session ended, exchange refused): syncs
    # stop until they connect the folder again.
    EXPIRED = "expired"


class AuthMethod(StrEnum):
    PASSWORD = "password"  # an app password (Nextcloud, any WebDAV server)
    OIDC = "oidc"  # the person's OIDC access token exchanged for the drive's (RFC 8693)


class SyncOutcome(StrEnum):
    OK = "ok"  # every file in step
    PARTIAL = "partial"  # the folder was read, some files were not
    FAILED = "failed"  # the folder itself could not be read: nothing was changed


class DriveConnection(TimestampMixin, Base):
    """A WebDAV folder synced into one collection, with the state of its last sync."""

    __tablename__ = "drive_connections"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    # Who connected it: the sync reads the drive with their password and files documents
    # with their rights (a member's private collection, or a referent's shared one).
    owner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    collection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), unique=True
    )
    url: Mapped[str] = mapped_column(String(2000))
    username: Mapped[str] = mapped_column(String(320))
    auth_method: Mapped[AuthMethod] = mapped_column(
        String(16), default=AuthMethod.PASSWORD, server_default=AuthMethod.PASSWORD.value
    )
    # Fernet ciphertext (connectors.crypto) of the app password, or of the tokens of an OIDC
    # connection (connectors.exchange); the row is deleted when the connection is revoked.
    secret: Mapped[str] = mapped_column(Text)
    # The files picked (paths under the folder), or None for the whole folder.
    paths: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    status: Mapped[DriveStatus] = mapped_column(String(16), default=DriveStatus.ACTIVE)
    sync_requested: Mapped[bool] = mapped_column(Boolean, default=True)
    next_sync_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # The heartbeat of the process syncing it, None when no sync runs.
    running_since: Mapped[datetime | None] = mapped_column(default=None)
    last_sync_at: Mapped[datetime | None] = mapped_column(default=None)
    last_outcome: Mapped[SyncOutcome | None] = mapped_column(String(16), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    last_error_template: Mapped[str | None] = mapped_column(Text, default=None)
    last_error_values: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    files_seen: Mapped[int] = mapped_column(Integer, default=0)
    files_added: Mapped[int] = mapped_column(Integer, default=0)
    files_updated: Mapped[int] = mapped_column(Integer, default=0)
    files_removed: Mapped[int] = mapped_column(Integer, default=0)
    files_failed: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float | None] = mapped_column(Float, default=None)
    # How many syncs have run (a client tells a new outcome from the previous one).
    syncs: Mapped[int] = mapped_column(Integer, default=0)


class DriveFile(Base):
    """A file of a connected folder: its ETag when last ingested, and its document."""

    __tablename__ = "drive_files"
    __table_args__ = (Unique("connection_id", "path"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("drive_connections.id", ondelete="CASCADE"), index=True
    )
    path: Mapped[str] = mapped_column(String(2000))
    # None until the file is ingested: a file that failed for a passing reason is retried.
    etag: Mapped[str | None] = mapped_column(String(255), default=None)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    document_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("documents.id", ondelete="SET NULL"), index=True, default=None
    )
    error: Mapped[str | None] = mapped_column(Text, default=None)
    error_template: Mapped[str | None] = mapped_column(Text, default=None)
    error_values: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
