"""One sync of a connected folder: list it, compare ETags, ingest new and changed files,
remove deleted ones, through the documents' own upload, delete and queue.

A file is ingested only as it was listed: the ETag the drive sends with the download and
the one it reports once the download is over must both be the listed one, else the file
changed meanwhile and is left for the next sync (its previous version stays searchable).
A folder that cannot be listed (gone, password revoked, server error) changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, field

import structlog
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts.models import User
from autan.accounts.principal import Principal
from autan.connectors import errors
from autan.connectors.crypto import CredentialBox
from autan.connectors.exchange import BearerSource, TokenExchange, TokenState
from autan.connectors.models import (
    AuthMethod,
    DriveConnection,
    DriveFile,
    DriveStatus,
    SyncOutcome,
)
from autan.connectors.settings import SYNCED_EXTENSIONS
from autan.connectors.webdav import Auth, Credentials, RemoteFile, WebDav, same_etag
from autan.core.db import utcnow
from autan.core.errors import AutanError
from autan.documents import service as documents
from autan.documents.errors import DocumentNotFound
from autan.documents.extraction.errors import ExtractionError
from autan.documents.storage import FileStore

log = structlog.get_logger(__name__)

# Reasons that will not change until the file does: not retried while its ETag stays.
_LASTING = {"drive_file_too_large", "drive_format_skipped"}


@dataclass
class SyncReport:
    """What one sync did."""

    seen: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    failed: int = 0
    unchanged: int = 0
    error: AutanError | None = None
    failures: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Known:
    id: uuid.UUID
    etag: str | None
    document_id: uuid.UUID | None


def synced(path: str) -> bool:
    """Whether a file of this name is read (by its extension)."""
    name = path.rsplit("/", 1)[-1]
    return "." in name and name.rsplit(".", 1)[-1].lower() in SYNCED_EXTENSIONS


class DriveSync:
    """Runs syncs of connected folders."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        store: FileStore,
        dav: WebDav,
        box: CredentialBox,
        exchange: TokenExchange,
        *,
        max_bytes: int,
        concurrency: int,
    ) -> None:
        self._factory = factory
        self._store = store
        self._dav = dav
        self._box = box
        self._exchange = exchange
        self._max_bytes = max_bytes
        self._concurrency = concurrency

    async def run(self, connection_id: uuid.UUID) -> SyncReport:
        """Sync one connection and record its outcome on it."""
        started = time.monotonic()
        report = SyncReport()
        try:
            await self._sync(connection_id, report)
        except AutanError as exc:
            report.error = exc
        await self._record(connection_id, report, time.monotonic() - started)
        return report

    async def _sync(self, connection_id: uuid.UUID, report: SyncReport) -> None:
        async with self._factory() as session:
            connection = await session.get(DriveConnection, connection_id)
            if connection is None or connection.status != DriveStatus.ACTIVE:
                return
            me = await _principal_of(session, connection.owner_id)
            known = {
                row.path: _Known(row.id, row.etag, row.document_id)
                for row in await session.scalars(
                    select(DriveFile).where(DriveFile.connection_id == connection_id)
                )
            }
            url, picked = connection.url, connection.paths
            collection_id = connection.collection_id
            auth = self._auth(connection)
        remote = [f for f in await self._dav.list_files(url, auth) if synced(f.path)]
        if picked is not None:
            wanted = set(picked)
            remote = [f for f in remote if f.path in wanted]
        report.seen = len(remote)
        todo = [f for f in remote if f.path not in known or known[f.path].etag != f.etag]
        report.unchanged = report.seen - len(todo)
        gate = asyncio.Semaphore(self._concurrency)
        job = _Job(me, collection_id, connection_id, url, auth)

        async def one(file: RemoteFile) -> None:
            async with gate:
                await self._ingest(job, file, known.get(file.path), report)

        await asyncio.gather(*(one(f) for f in todo))
        present = {f.path for f in remote}
        for path, row in known.items():
            if path not in present:
                await self._remove(job, row)
                report.removed += 1

    def _auth(self, connection: DriveConnection) -> Auth:
        opened = self._box.open(connection.secret)
        if connection.auth_method != AuthMethod.OIDC:
            return Credentials(connection.username, opened)
        connection_id = connection.id

        async def save(state: TokenState) -> None:
            # The renewed tokens, sealed, for the next requests and the next sync.
            async with self._factory() as session:
                await session.execute(
                    update(DriveConnection)
                    .where(DriveConnection.id == connection_id)
                    .where(DriveConnection.status == DriveStatus.ACTIVE)
                    .values(secret=self._box.seal(state.dumps()))
                )
                await session.commit()

        return BearerSource(self._exchange, TokenState.loads(opened), save)

    async def _ingest(
        self, job: _Job, file: RemoteFile, known: _Known | None, report: SyncReport
    ) -> None:
        try:
            if file.size > self._max_bytes:  # as listed: not even asked for
                raise errors.file_too_large(self._max_bytes)
            spooled = await self._dav.download(
                job.url, file.path, job.auth, file.etag, self._store, self._max_bytes
            )
            try:
                after = await self._dav.etag_of(job.url, file.path, job.auth)
                if not same_etag(after, file.etag):
                    raise errors.file_changed()
            except BaseException:
                spooled.discard()
                raise
            async with self._factory() as session:
                if not await _still_active(session, job.connection_id):
                    spooled.discard()
                    return
                upload = await documents.upload(
                    session,
                    self._store,
                    job.me,
                    collection_id=job.collection_id,
                    filename=file.path.rsplit("/", 1)[-1],
                    spooled=spooled,
                )
                document_id = upload.document.id
        except AutanError as exc:
            report.failed += 1
            report.failures[file.path] = exc.message
            await self._note_failure(job, file, known, exc)
            return
        async with self._factory() as session:
            row = await session.get(DriveFile, known.id) if known else None
            if row is None:
                row = DriveFile(connection_id=job.connection_id, path=file.path)
                session.add(row)
            old = row.document_id
            row.etag, row.size, row.document_id = file.etag, file.size, document_id
            row.error = row.error_template = None
            row.error_values = None
            await session.commit()
            if old is not None and old != document_id:
                await self._drop_document(session, job, old)
        if known is None or known.document_id is None:
            report.added += 1
        else:
            report.updated += 1

    async def _note_failure(
        self, job: _Job, file: RemoteFile, known: _Known | None, exc: AutanError
    ) -> None:
        async with self._factory() as session:
            row = await session.get(DriveFile, known.id) if known else None
            if row is None:
                row = DriveFile(connection_id=job.connection_id, path=file.path, size=file.size)
                session.add(row)
            # A lasting reason keeps the ETag (no retry until the file changes); a passing
            # one clears it, so the next sync tries again.
            lasting = exc.code in _LASTING or isinstance(exc, ExtractionError)
            row.etag = file.etag if lasting else None
            row.error, row.error_template = exc.message, exc.template
            row.error_values = {k: str(v) for k, v in exc.values.items()} or None
            await session.commit()

    async def _remove(self, job: _Job, known: _Known) -> None:
        async with self._factory() as session:
            await session.execute(delete(DriveFile).where(DriveFile.id == known.id))
            await session.commit()
            if known.document_id is not None:
                await self._drop_document(session, job, known.document_id)

    async def _drop_document(
        self, session: AsyncSession, job: _Job, document_id: uuid.UUID
    ) -> None:
        # Two files with the same bytes share one document (documents are unique by content
        # in a collection): it goes only when no file of the folder holds it any more.
        others = await session.scalar(
            select(func.count())
            .select_from(DriveFile)
            .where(DriveFile.connection_id == job.connection_id)
            .where(DriveFile.document_id == document_id)
        )
        if others:
            return
        with contextlib.suppress(DocumentNotFound):  # deleted by hand meanwhile
            await documents.delete_document(session, self._store, job.me, document_id)

    async def _record(self, connection_id: uuid.UUID, report: SyncReport, seconds: float) -> None:
        async with self._factory() as session:
            connection = await session.get(DriveConnection, connection_id)
            if connection is None:
                return
            connection.last_sync_at = utcnow()
            connection.syncs += 1
            connection.seconds = round(seconds, 3)
            if report.error is not None:
                connection.last_outcome = SyncOutcome.FAILED
                if (
                    report.error.code == "drive_reconnect"
                    and connection.status == DriveStatus.ACTIVE
                ):
                    # No token can be had without the person: stop until they reconnect.
                    connection.status = DriveStatus.EXPIRED
                connection.last_error = report.error.message
                connection.last_error_template = report.error.template
                values = {k: str(v) for k, v in report.error.values.items()}
                connection.last_error_values = values or None
            else:
                connection.last_outcome = SyncOutcome.PARTIAL if report.failed else SyncOutcome.OK
                connection.last_error = connection.last_error_template = None
                connection.last_error_values = None
                connection.files_seen = report.seen
                connection.files_added = report.added
                connection.files_updated = report.updated
                connection.files_removed = report.removed
                connection.files_failed = (
                    await session.scalar(
                        select(func.count())
                        .select_from(DriveFile)
                        .where(DriveFile.connection_id == connection_id)
                        .where(DriveFile.error.is_not(None))
                    )
                    or 0
                )
            await session.commit()
        log.info(
            "drive_synced",
            connection=str(connection_id),
            seen=report.seen,
            added=report.added,
            updated=report.updated,
            removed=report.removed,
            failed=report.failed,
            error=report.error.code if report.error else None,
            seconds=round(seconds, 3),
        )


@dataclass(frozen=True, slots=True)
class _Job:
    me: Principal
    collection_id: uuid.UUID
    connection_id: uuid.UUID
    url: str
    auth: Auth


async def _principal_of(session: AsyncSession, user_id: uuid.UUID) -> Principal:
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        raise errors.owner_inactive()
    return Principal(user.id, user.org_id, user.email, user.role)


async def _still_active(session: AsyncSession, connection_id: uuid.UUID) -> bool:
    status = await session.scalar(
        select(DriveConnection.status).where(DriveConnection.id == connection_id)
    )
    return status == DriveStatus.ACTIVE
