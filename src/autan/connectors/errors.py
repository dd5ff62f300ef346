"""Errors of drive connections, in words a user understands.

`DriveError`s are what a drive did (refused the password, answered 500, moved the folder):
shown when connecting, and stored with a sync's outcome (template and values, so that the
collection page shows them in its reader's language).
"""

from __future__ import annotations

from autan.core.errors import AutanError, ErrorKind, Forbidden, InvalidRequest, NotFound, Value
from autan.documents.errors import size_number


class DriveNotFound(NotFound):
    code = "drive_not_found"

    def __init__(self) -> None:
        super().__init__("No such drive connection, or you do not have access to it.")


class AlreadyConnected(InvalidRequest):
    code = "drive_already_connected"

    def __init__(self) -> None:
        super().__init__(
            "This collection is already synced with a drive folder: disconnect it first.",
            param="collection_id",
        )


class SharedNotAcknowledged(Forbidden):
    code = "drive_shared_not_acknowledged"

    def __init__(self) -> None:
        super().__init__(
            "Every member of the organisation will see the files of this folder in the "
            "collection: confirm that they may read them.",
            param="shared_acknowledged",
        )


class CredentialUnreadable(InvalidRequest):
    code = "drive_credential_unreadable"

    def __init__(self) -> None:
        super().__init__(
            "The stored app password can no longer be read (the server's secret key changed): "
            "connect the folder again."
        )


class DriveError(AutanError):
    """What a drive did, or why it was not reached."""

    kind = ErrorKind.INVALID

    def __init__(self, message: str, code: str, **values: Value) -> None:
        super().__init__(message, code=code, param="url", values=values)


def unauthorized() -> DriveError:
    return DriveError(
        "The drive refused the user name or app password (it may have been revoked): "
        "connect the folder again with a valid app password.",
        "drive_unauthorized",
    )


def folder_not_found() -> DriveError:
    return DriveError(
        "The folder was not found on the drive: it may have been moved or deleted. "
        "The collection's documents are kept until you disconnect it.",
        "drive_folder_not_found",
    )


def server_error(status: int) -> DriveError:
    return DriveError(
        "The drive answered with an error (HTTP {status}); the next sync will try again.",
        "drive_server_error",
        status=status,
    )


def unreachable(detail: str) -> DriveError:
    return DriveError(
        "The drive could not be reached ({detail}).", "drive_unreachable", detail=detail[:200]
    )


def bad_url() -> DriveError:
    return DriveError(
        "This is not a WebDAV folder address: give the full https:// address of the folder.",
        "drive_bad_url",
    )


def refused_address(host: str) -> DriveError:
    return DriveError(
        "The drive at {host} may not be reached: it is on a private address or uses plain "
        "http, and the administrator has not allowed it (AUTAN_CONNECTORS__ALLOWED_HOSTS).",
        "drive_address_refused",
        host=host,
    )


def not_webdav() -> DriveError:
    return DriveError(
        "This address did not answer as a WebDAV folder: check it (Nextcloud: "
        "https://…/remote.php/dav/files/USER/FOLDER).",
        "drive_not_webdav",
    )


def too_many_files(limit: int) -> DriveError:
    return DriveError(
        "The folder holds more than {limit} files: connect a smaller folder.",
        "drive_too_many_files",
        limit=limit,
    )


def file_too_large(limit_bytes: int) -> DriveError:
    if limit_bytes >= 1024 * 1024:
        return DriveError(
            "The file is larger than the {size} MB limit; it was not downloaded.",
            "drive_file_too_large",
            size=size_number(limit_bytes),
        )
    return DriveError(
        "The file is larger than the {size} KB limit; it was not downloaded.",
        "drive_file_too_large",
        size=size_number(limit_bytes),
    )


def file_changed() -> DriveError:
    return DriveError(
        "The file changed while it was being downloaded; it will be read at the next sync.",
        "drive_file_changed",
    )


def not_synced_format() -> DriveError:
    return DriveError("This kind of file is not read; it was skipped.", "drive_format_skipped")


def owner_inactive() -> DriveError:
    return DriveError(
        "The person who connected this folder no longer has an active account: the folder "
        "is not synced any more.",
        "drive_owner_inactive",
    )


def reconnect(reason: str) -> DriveError:
    return DriveError(
        "Autan can no longer reach this drive on your behalf: your ProConnect session has "
        "ended or the identity provider refused access ({reason}). Sign in with ProConnect "
        "again, then reconnect the folder; syncs are stopped until then.",
        "drive_reconnect",
        reason=reason,
    )


class NoSuiteToken(InvalidRequest):
    code = "drive_no_suite_token"

    def __init__(self) -> None:
        super().__init__(
            "Connecting the Suite's drive without a password needs your ProConnect sign-in: "
            "sign out, sign in with ProConnect, then try again.",
            param="auth",
        )


class ExchangeOff(InvalidRequest):
    code = "drive_exchange_off"

    def __init__(self) -> None:
        super().__init__(
            "This server does not connect drives through ProConnect: use an app password.",
            param="auth",
        )


class PasswordMissing(InvalidRequest):
    code = "drive_password_missing"

    def __init__(self) -> None:
        super().__init__("Give the user name and app password of the drive.", param="password")
