"""Bodies and answers of the drive connections' JSON API (`/api/drives`)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from autan.connectors.models import DriveConnection, DriveFile
from autan.connectors.webdav import RemoteFile


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FolderIn(_Strict):
    """A WebDAV folder and its credentials (Nextcloud: an app password, not the account's)."""

    url: str = Field(min_length=8, max_length=2000)
    username: str = Field(min_length=1, max_length=320)
    password: SecretStr = Field(min_length=1, max_length=1000)


class ConnectIn(_Strict):
    """`POST /api/drives`: sync this folder (or only `paths`) into a collection.

    `auth`: `password` (a user name and an app password) or `oidc` (the Suite's drive,
    reached with the caller's ProConnect sign-in exchanged for the drive's token)."""

    url: str = Field(min_length=8, max_length=2000)
    auth: Literal["password", "oidc"] = "password"
    username: str = Field("", max_length=320)
    password: SecretStr = Field(SecretStr(""), max_length=1000)
    collection_id: uuid.UUID
    # For a collection shared with the organisation: the referent confirms that every
    # member may read these files.
    shared_acknowledged: bool = False
    paths: list[str] | None = Field(None, max_length=5000)


class ReconnectIn(_Strict):
    """`POST /api/drives/{id}/reconnect`: a new app password (an OIDC connection takes the
    caller's current ProConnect sign-in instead, and no body)."""

    password: SecretStr = Field(SecretStr(""), max_length=1000)


def connection_out(
    connection: DriveConnection, failed: list[DriveFile] | None = None
) -> dict[str, Any]:
    """A connection as the API shows it: never the password."""
    return {
        "object": "drive_connection",
        "id": str(connection.id),
        "collection_id": str(connection.collection_id),
        "url": connection.url,
        "username": connection.username,
        "auth": connection.auth_method,
        "paths": connection.paths,
        "status": connection.status,
        "sync_requested": connection.sync_requested,
        "syncing": connection.running_since is not None,
        "last_sync_at": _ts(connection.last_sync_at),
        "syncs": connection.syncs,
        "next_sync_at": _ts(connection.next_sync_at),
        "last_outcome": connection.last_outcome,
        "last_error": connection.last_error,
        "files": {
            "seen": connection.files_seen,
            "added": connection.files_added,
            "updated": connection.files_updated,
            "removed": connection.files_removed,
            "failed": connection.files_failed,
        },
        "failed_files": [{"path": f.path, "error": f.error} for f in failed or []],
        "created_at": _ts(connection.created_at),
    }


def remote_out(file: RemoteFile) -> dict[str, Any]:
    return {"path": file.path, "size": file.size, "etag": file.etag}


def _ts(value: Any) -> int | None:
    return None if value is None else int(value.timestamp())
