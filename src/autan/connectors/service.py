"""Drive connections: connect a folder to a collection, see its state, sync now, revoke.

Services own the transaction. A connection is seen and changed only by people who manage
its collection (its owner for a private one; the organisation's referents for a shared
one); readers of a shared collection see that it is synced and when, never the address.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts.audit import Action, record
from autan.accounts.principal import Principal
from autan.connectors import errors
from autan.connectors.crypto import CredentialBox
from autan.connectors.exchange import BearerSource, TokenExchange
from autan.connectors.models import AuthMethod, DriveConnection, DriveFile, DriveStatus
from autan.connectors.sync import synced
from autan.connectors.webdav import Credentials, RemoteFile, WebDav, folder_url
from autan.core.errors import AutanError
from autan.core.events import DriveSyncRequested, emit
from autan.documents import service as documents
from autan.documents.models import Collection, Document, Visibility
from autan.documents.storage import FileStore


@dataclass(frozen=True, slots=True)
class DriveAccess:
    """What the connector services need beyond the session: the client, the key box and
    the token exchange."""

    dav: WebDav
    box: CredentialBox
    exchange: TokenExchange


@dataclass(frozen=True, slots=True)
class SubjectToken:
    """The person's access token at the OIDC provider (kept at sign-in) and its end."""

    token: str
    expires: float


def subject_token(found: tuple[str, float] | None) -> SubjectToken:
    """The caller's ProConnect token as read from their sign-in cookie, or NoSuiteToken."""
    if found is None:
        raise errors.NoSuiteToken()
    return SubjectToken(*found)


async def _sealed_access(
    access: DriveAccess,
    url: str,
    *,
    username: str,
    password: str,
    subject: SubjectToken | None,
) -> tuple[AuthMethod, str]:
    """Try the folder with the credentials given; their sealed form and kind.

    With `subject`, the person's token is exchanged for the drive's first (RFC 8693).
    """
    if subject is not None:
        if not access.exchange.enabled:
            raise errors.ExchangeOff()
        state = await access.exchange.exchange(subject.token, subject.expires)
        await access.dav.probe(url, BearerSource(access.exchange, state))
        return AuthMethod.OIDC, access.box.seal(state.dumps())
    if not username or not password:
        raise errors.PasswordMissing()
    await access.dav.probe(url, Credentials(username, password))
    return AuthMethod.PASSWORD, access.box.seal(password)


async def connect(
    session: AsyncSession,
    access: DriveAccess,
    me: Principal,
    *,
    collection_id: uuid.UUID,
    url: str,
    username: str = "",
    password: str = "",
    subject: SubjectToken | None = None,
    shared_acknowledged: bool = False,
    paths: list[str] | None = None,
    ip: str | None = None,
) -> DriveConnection:
    """Connect a WebDAV folder to a collection the caller manages; the first sync is queued.

    The address and the password (or, with `subject`, the token exchanged for it) are tried
    first (a wrong one is refused in plain words); the secret is then stored encrypted and
    never shown again.
    """
    collection = await documents.managed_collection(session, me, collection_id)
    if collection.visibility != Visibility.PRIVATE and not shared_acknowledged:
        raise errors.SharedNotAcknowledged()
    existing = await session.scalar(
        select(DriveConnection.id).where(DriveConnection.collection_id == collection.id)
    )
    if existing is not None:
        raise errors.AlreadyConnected()
    url = folder_url(url)
    method, secret = await _sealed_access(
        access, url, username=username, password=password, subject=subject
    )
    connection = DriveConnection(
        org_id=collection.org_id,
        owner_id=me.user_id,
        collection_id=collection.id,
        url=url,
        username=me.email if method == AuthMethod.OIDC else username,
        auth_method=method,
        secret=secret,
        paths=sorted(set(paths)) if paths else None,
        status=DriveStatus.ACTIVE,
        sync_requested=True,
    )
    session.add(connection)
    record(
        session,
        Action.DRIVE_CONNECTED,
        actor_id=me.user_id,
        org_id=collection.org_id,
        target=str(collection.id),
        ip=ip,
        shared=collection.visibility != Visibility.PRIVATE,
        picked=len(paths or []),
        auth=method.value,
    )
    emit(session, DriveSyncRequested())
    await session.commit()
    return connection


async def browse(
    access: DriveAccess, *, url: str, username: str, password: str
) -> list[RemoteFile]:
    """The readable files of a folder, to pick some before connecting (nothing is kept)."""
    files = await access.dav.list_files(folder_url(url), Credentials(username, password))
    return [f for f in files if synced(f.path)]


async def _managed(
    session: AsyncSession, me: Principal, connection: DriveConnection | None
) -> tuple[DriveConnection, Collection]:
    if connection is None:
        raise errors.DriveNotFound()
    try:
        collection = await documents.managed_collection(session, me, connection.collection_id)
    except AutanError as exc:
        raise errors.DriveNotFound() from exc
    return connection, collection


async def get_connection(
    session: AsyncSession, me: Principal, connection_id: uuid.UUID
) -> DriveConnection:
    """A connection of a collection the caller manages; any other is "not found"."""
    connection, _ = await _managed(session, me, await session.get(DriveConnection, connection_id))
    return connection


async def list_connections(session: AsyncSession, me: Principal) -> list[DriveConnection]:
    """The connections of the collections the caller manages, newest first."""
    rows = await session.scalars(
        select(DriveConnection)
        .where(DriveConnection.org_id == me.org_id)
        .order_by(DriveConnection.created_at.desc())
    )
    kept = []
    for connection in rows:
        try:
            await _managed(session, me, connection)
        except errors.DriveNotFound:
            continue
        kept.append(connection)
    return kept


async def of_collection(
    session: AsyncSession, me: Principal, collection_id: uuid.UUID
) -> DriveConnection | None:
    """The connection of a collection the caller sees, if it has one."""
    collection = await documents.get_collection(session, me, collection_id)
    found: DriveConnection | None = await session.scalar(
        select(DriveConnection).where(DriveConnection.collection_id == collection.id)
    )
    return found


async def failed_files(
    session: AsyncSession, connection: DriveConnection, limit: int = 50
) -> list[DriveFile]:
    """Files of the folder that were not read, and why (the last sync's words)."""
    rows = await session.scalars(
        select(DriveFile)
        .where(DriveFile.connection_id == connection.id, DriveFile.error.is_not(None))
        .order_by(DriveFile.path)
        .limit(limit)
    )
    return list(rows)


async def request_sync(
    session: AsyncSession, me: Principal, connection_id: uuid.UUID
) -> DriveConnection:
    """Ask for a sync now ("Synchroniser maintenant"); a process of the worker runs it."""
    connection = await get_connection(session, me, connection_id)
    if connection.status == DriveStatus.EXPIRED:
        raise errors.reconnect("session_ended")  # what to do, rather than "not found"
    if connection.status != DriveStatus.ACTIVE:
        raise errors.DriveNotFound()
    await session.execute(
        update(DriveConnection)
        .where(DriveConnection.id == connection.id)
        .values(sync_requested=True)
    )
    emit(session, DriveSyncRequested())
    await session.commit()
    await session.refresh(connection)
    return connection


async def reconnect(
    session: AsyncSession,
    access: DriveAccess,
    me: Principal,
    connection_id: uuid.UUID,
    *,
    password: str = "",
    subject: SubjectToken | None = None,
    ip: str | None = None,
) -> DriveConnection:
    """Give a connection new credentials (a new app password, or the person's new sign-in
    exchanged again): it is tried, sealed, and syncs start again."""
    connection, collection = await _managed(
        session, me, await session.get(DriveConnection, connection_id)
    )
    if connection.auth_method == AuthMethod.OIDC and subject is None:
        raise errors.NoSuiteToken()
    method, secret = await _sealed_access(
        access,
        connection.url,
        username=connection.username,
        password=password,
        subject=subject if connection.auth_method == AuthMethod.OIDC else None,
    )
    await session.execute(
        update(DriveConnection)
        .where(DriveConnection.id == connection.id)
        .values(
            secret=secret,
            auth_method=method,
            status=DriveStatus.ACTIVE,
            sync_requested=True,
            last_error=None,
            last_error_template=None,
            last_error_values=None,
        )
    )
    record(
        session,
        Action.DRIVE_CONNECTED,
        actor_id=me.user_id,
        org_id=collection.org_id,
        target=str(collection.id),
        ip=ip,
        reconnected=True,
        auth=method.value,
    )
    emit(session, DriveSyncRequested())
    await session.commit()
    await session.refresh(connection)
    return connection


async def revoke(
    session: AsyncSession,
    store: FileStore,
    me: Principal,
    connection_id: uuid.UUID,
    *,
    keep_documents: bool,
    ip: str | None = None,
) -> int:
    """Disconnect: the password is erased at once and syncs stop; the documents the folder
    brought stay in the collection or are deleted, as the caller chose. Returns how many
    documents were deleted."""
    connection, collection = await _managed(
        session, me, await session.get(DriveConnection, connection_id)
    )
    document_ids = list(
        await session.scalars(
            select(DriveFile.document_id).where(
                DriveFile.connection_id == connection.id, DriveFile.document_id.is_not(None)
            )
        )
    )
    record(
        session,
        Action.DRIVE_REVOKED,
        actor_id=me.user_id,
        org_id=collection.org_id,
        target=str(collection.id),
        ip=ip,
        kept_documents=keep_documents,
    )
    # Deleting the row erases the ciphertext too; a sync under way checks the row before
    # each file and files nothing more.
    await session.execute(delete(DriveFile).where(DriveFile.connection_id == connection.id))
    await session.execute(delete(DriveConnection).where(DriveConnection.id == connection.id))
    await session.commit()
    if keep_documents:
        return 0
    deleted = 0
    for document_id in dict.fromkeys(document_ids):
        if document_id is None or await session.get(Document, document_id) is None:
            continue
        await documents.delete_document(session, store, me, document_id)
        deleted += 1
    return deleted
