"""`autan ingest PATH... --collection NAME [--owner EMAIL]`: file documents from the disk.

The command runs the application's own lifespan in this process, so files go through the
same worker, models and quotas as uploads. It can be run again after an interruption:
files already ready in the collection are skipped and failed ones are tried again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts.models import Role, User
from autan.accounts.principal import Principal
from autan.core.console import err
from autan.core.errors import AutanError, InvalidRequest
from autan.documents import service
from autan.documents.models import Collection, Document, DocumentStatus, Visibility
from autan.documents.permissions import can_manage_collection
from autan.documents.storage import sha256_of
from autan.documents.worker import IngestionWorker
from autan.settings import Settings

_POLL = 0.2
_FINISHED = (DocumentStatus.READY, DocumentStatus.FAILED)


@dataclass
class Report:
    """What happened to each file."""

    ready: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


class OwnerNotFound(InvalidRequest):
    code = "owner_not_found"

    def __init__(self, email: str | None) -> None:
        super().__init__(
            "No user with the email {email}."
            if email
            else "There is no administrator yet: create one, or say who owns the documents "
            "with --owner EMAIL.",
            values={"email": email} if email else None,
        )


def files_under(paths: Iterable[Path]) -> list[Path]:
    """The files named, and those under the folders named (recursively, hidden ones left)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.is_file():
            found.append(path)
        else:
            raise InvalidRequest("{path} does not exist.", values={"path": str(path)})
    return list(dict.fromkeys(p.resolve() for p in found))


async def _owner(session: AsyncSession, email: str | None) -> Principal:
    query = select(User).where(User.is_active.is_(True))
    if email:
        query = query.where(User.email == email.strip().lower())
    else:
        query = query.where(User.role == Role.ADMIN).order_by(User.created_at)
    user = await session.scalar(query.limit(1))
    if user is None:
        raise OwnerNotFound(email)
    return Principal(user_id=user.id, org_id=user.org_id, email=user.email, role=user.role)


async def _collection(session: AsyncSession, owner: Principal, name: str) -> Collection:
    """The owner's collection of that name, or a new private one."""
    candidates = await session.scalars(
        select(Collection).where(Collection.name == name).order_by(Collection.created_at)
    )
    for collection in candidates:
        if collection.owner_id == owner.user_id or (
            collection.org_id == owner.org_id and can_manage_collection(owner, collection)
        ):
            return collection
    return await service.create_collection(session, owner, name=name, visibility=Visibility.PRIVATE)


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    data = await asyncio.to_thread(path.read_bytes)
    for start in range(0, len(data), 1024 * 1024):
        yield data[start : start + 1024 * 1024]


async def _submit(
    factory: async_sessionmaker[AsyncSession],
    worker: IngestionWorker,
    owner: Principal,
    collection_id: uuid.UUID,
    path: Path,
    report: Report,
) -> uuid.UUID | None:
    """Queue one file; None when it is skipped (already ready) or refused at once."""
    async with factory() as session:
        sha = await asyncio.to_thread(sha256_of, path)
        existing = await session.scalar(
            select(Document).where(Document.collection_id == collection_id, Document.sha256 == sha)
        )
        if existing is not None and existing.status == DocumentStatus.READY:
            report.skipped.append(str(path))
            return None
        if existing is not None:
            await service.requeue_if_failed(session, existing)
            return existing.id
        try:
            spooled = await worker.store.spool(_chunks(path), worker.settings.max_file_bytes)
            result = await service.upload(
                session,
                worker.store,
                owner,
                collection_id=collection_id,
                filename=path.name,
                spooled=spooled,
            )
        except AutanError as exc:
            report.failed.append((str(path), exc.message))
            return None
    worker.wake()
    return result.document.id


async def ingest_paths(
    factory: async_sessionmaker[AsyncSession],
    worker: IngestionWorker,
    paths: list[Path],
    collection_name: str,
    owner_email: str | None,
    progress: Progress | None = None,
) -> Report:
    """Queue the files, wait until each is ready or failed, and say what happened."""
    files = files_under(paths)
    report = Report()
    async with factory() as session:
        owner = await _owner(session, owner_email)
        collection = await _collection(session, owner, collection_name)
    files_task = progress.add_task("files", total=len(files)) if progress else None
    pending: dict[uuid.UUID, str] = {}
    for path in files:
        document_id = await _submit(factory, worker, owner, collection.id, path, report)
        if document_id is None:
            if progress is not None and files_task is not None:
                progress.advance(files_task)
        else:
            pending[document_id] = str(path)
    current = progress.add_task("", total=100, visible=False) if progress else None
    while pending:
        await asyncio.sleep(_POLL)
        async with factory() as session:
            found = await service.documents_by_ids(session, list(pending))
        for document_id, name in list(pending.items()):
            document = found.get(document_id)
            if document is None:
                report.failed.append((name, "The document was deleted while it was processed."))
            elif document.status == DocumentStatus.READY:
                report.ready.append(name)
            elif document.status == DocumentStatus.FAILED:
                report.failed.append((name, document.error or "Unknown reason."))
            else:
                if (
                    progress is not None
                    and current is not None
                    and document.status != DocumentStatus.QUEUED
                ):
                    label = f"{Path(name).name} ({document.status})"
                    progress.update(
                        current, description=label, completed=100 * document.progress, visible=True
                    )
                continue
            del pending[document_id]
            if progress is not None and files_task is not None:
                progress.advance(files_task)
    return report


def _print_report(report: Report) -> None:
    err.print(
        f"[green]{len(report.ready)} ready[/green], {len(report.skipped)} skipped "
        f"(already ingested), [red]{len(report.failed)} failed[/red]"
    )
    for name, reason in report.failed:
        err.print(f"  [red]failed[/red] {name}: {reason}")


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (read recursively).")],
    collection: Annotated[str, typer.Option(help="Collection name (created if missing).")],
    owner: Annotated[
        str | None, typer.Option(help="Email of the owner (default: the first administrator).")
    ] = None,
) -> None:
    """Ingest files into a collection, with a progress bar; exit code 1 if any failed."""
    from autan.app import create_app

    settings = Settings()

    async def work() -> Report:
        app = create_app(settings)
        async with app.router.lifespan_context(app) as state:
            assert state is not None
            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            with Progress(*columns, console=err, transient=True) as progress:
                services = state["services"]
                return await ingest_paths(
                    services.session_factory, services.documents, paths, collection, owner, progress
                )

    try:
        report = asyncio.run(work())
    except AutanError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        err.print(f"[red]database error:[/red] {reason}. Has `autan migrate` been run?")
        raise typer.Exit(1) from None
    _print_report(report)
    if report.failed:
        raise typer.Exit(1)
