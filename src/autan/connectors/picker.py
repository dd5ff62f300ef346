"""Picking files of a connected drive folder to attach to a conversation.

Only the person who connected a folder browses it, with the app password they gave (the
connection's, decrypted for the request and never shown), one level at a time; every
request goes through the same WebDAV client as the sync, so the same address rules apply
(no private address unless the deployment allows the host, every redirect checked). A file
picked is downloaded into the documents' spool under the upload limit and then takes the
one attachment path of the chat (`chat.attachments.attach`): same formats, same errors.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts.principal import Principal
from autan.connectors import errors
from autan.connectors.models import DriveConnection, DriveStatus
from autan.connectors.service import DriveAccess
from autan.connectors.webdav import Credentials, FolderEntry
from autan.documents.errors import FileTooLarge
from autan.documents.storage import FileStore, SpooledFile


@dataclass(frozen=True, slots=True)
class Level:
    """One level of a drive folder, as the picker shows it."""

    drive: DriveConnection
    path: str  # "" for the folder itself, else "a/b/"
    parent: str | None  # the level above, None at the folder itself
    entries: list[FolderEntry]


async def my_drives(session: AsyncSession, me: Principal) -> list[DriveConnection]:
    """The active drive folders the caller connected (others' are never browsed)."""
    rows = await session.scalars(
        select(DriveConnection)
        .where(
            DriveConnection.owner_id == me.user_id,
            DriveConnection.org_id == me.org_id,
            DriveConnection.status == DriveStatus.ACTIVE,
        )
        .order_by(DriveConnection.created_at)
    )
    return list(rows)


async def my_drive(session: AsyncSession, me: Principal, drive_id: uuid.UUID) -> DriveConnection:
    """One of the caller's active drive folders, or DriveNotFound (whoever else's it is)."""
    for drive in await my_drives(session, me):
        if drive.id == drive_id:
            return drive
    raise errors.DriveNotFound()


def clean_path(path: str, *, folder: bool) -> str:
    """A path under the folder as the picker sends it, or `folder_not_found` if it tries
    to leave the folder (`..`, an absolute path) or is not of the kind expected."""
    path = path.strip()
    if folder and path and not path.endswith("/"):
        path += "/"
    parts = path.rstrip("/").split("/") if path else []
    if path.startswith("/") or "\\" in path or any(p in ("", ".", "..") for p in parts):
        raise errors.folder_not_found()
    if not folder and (not parts or path.endswith("/")):
        raise errors.folder_not_found()
    return path


def _credentials(access: DriveAccess, drive: DriveConnection) -> Credentials:
    return Credentials(drive.username, access.box.open(drive.secret))


async def browse(access: DriveAccess, drive: DriveConnection, path: str) -> Level:
    """One level of the folder: sub-folders, then files with their size and date."""
    path = clean_path(path, folder=True)
    entries = await access.dav.list_level(drive.url, path, _credentials(access, drive))
    parent = None
    if path:
        above = path.rstrip("/").rsplit("/", 1)
        parent = above[0] + "/" if len(above) == 2 else ""
    return Level(drive, path, parent, entries)


async def download(
    access: DriveAccess, store: FileStore, drive: DriveConnection, path: str, max_bytes: int
) -> SpooledFile:
    """One file of the folder, spooled under the upload limit (FileTooLarge beyond it)."""
    path = clean_path(path, folder=False)
    auth = _credentials(access, drive)
    etag = await access.dav.etag_of(drive.url, path, auth)
    try:
        return await access.dav.download(drive.url, path, auth, etag, store, max_bytes)
    except errors.DriveError as exc:
        if exc.code == "drive_file_too_large":
            raise FileTooLarge(max_bytes) from exc  # the upload's words, the upload's limit
        raise
