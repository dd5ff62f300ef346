"""The ingestion job runner: parse, chunk, embed and index queued documents in the background.

A job is a `documents` row. A worker claims one with a conditional UPDATE (queued ->
parsing) whose row count says whether it won: two processes racing for a row are serialised
by the row lock on PostgreSQL (the loser's UPDATE re-reads the row, no longer queued, and
changes nothing) and by the database lock on SQLite, so any number of worker processes on any
number of hosts never take the same document. Parsing runs in a thread.
Chunks are written and the status set to `ready` in one transaction, so a document is never
searchable half-indexed; a document deleted meanwhile is simply dropped. While it works,
the worker refreshes `updated_at` (a heartbeat): a document whose heartbeat stopped (the
process was killed) is queued again, up to `max_attempts`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts.models import Organisation, User
from autan.accounts.principal import Principal
from autan.core.db import database_busy, database_unreachable, rowcount, utcnow
from autan.core.errors import AutanError, Plural, english_value
from autan.core.tasks import cancel_and_wait
from autan.documents import errors
from autan.documents.albert_chunking import ChunkingOptions, chunk_with_options
from autan.documents.chunking import ChunkDraft, chunk
from autan.documents.extraction import ExtractedDocument, ExtractionError, ExtractionLimits, extract
from autan.documents.models import Document, DocumentStatus
from autan.documents.recovery import recover_abandoned
from autan.documents.settings import DocumentSettings
from autan.documents.storage import FileStore
from autan.llm.client import ModelClient
from autan.llm.errors import ModelNotFound, WrongModelType
from autan.retrieval.index import add_chunks, delete_document_chunks, passage_text
from autan.retrieval.vectors import matrix_cache

log = structlog.get_logger(__name__)

_PROGRESS_EVERY = 0.5  # seconds between two writes of a document's progress
_PARSED = 0.4  # share of the progress bar given to parsing; embedding takes the rest


class _Gone(Exception):
    """The document was deleted while it was being processed."""


class _Failed(Exception):
    """The document cannot be processed; `reason` (a template of `values`) is shown to its
    owner."""

    def __init__(self, reason: str, **values: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.values = values


NO_TEXT = "No text could be found in the document."


@dataclass
class Timings:
    """Seconds spent in each stage, summed over the documents processed (for benchmarks)."""

    parse: float = 0.0
    chunk: float = 0.0
    embed: float = 0.0
    write: float = 0.0
    documents: int = 0
    chunks: int = 0


@dataclass
class _Job:
    document: Document
    progress: float = 0.0
    written: float = -1.0
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    failures: int = 0  # embedding outages met so far
    retrying: asyncio.Lock = field(default_factory=asyncio.Lock)


class IngestionWorker:
    """Runs ingestion jobs in this process: `concurrency` at once, woken on each upload."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        models: ModelClient,
        store: FileStore,
        settings: DocumentSettings,
    ) -> None:
        self.factory = factory
        self.models = models
        self.store = store
        self.settings = settings
        self.timings = Timings()
        self.active = 0  # documents being processed right now
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        # When this process last took a document of each organisation (a ticket number).
        self._served: dict[uuid.UUID, int] = {}
        self._tickets = itertools.count()
        self._stopping = False

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Start the job loops; the first thing they do is requeue abandoned work."""
        for n in range(self.concurrency()):
            self._tasks.append(asyncio.create_task(self._loop(), name=f"ingestion-{n}"))

    def concurrency(self) -> int:
        """Documents processed at once: as set, else one per embedding replica."""
        if self.settings.worker_concurrency is not None:
            return self.settings.worker_concurrency
        model = self.embedding_model()
        pool = self.models.gateway.pools.get(model) if model else None
        return max(1, len(pool.states())) if pool is not None else 1

    async def stop(self, grace: float = 0.0) -> None:
        """Stop the loops: take no new document, let those in progress finish for up to
        `grace` seconds, then put back in the queue those still unfinished."""
        self._stopping = True
        self._wake.set()  # idle loops notice at once
        if grace > 0 and self._tasks:
            await asyncio.wait(self._tasks, timeout=grace)
        for task in self._tasks:
            await cancel_and_wait(task)
        self._tasks.clear()

    def wake(self) -> None:
        """Tell the loops that a document was queued."""
        self._wake.set()

    def embedding_model(self) -> str | None:
        """The model that embeds passages and queries, or None if the deployment has none."""
        if self.settings.embedding_model:
            return self.settings.embedding_model
        available = self.models.embedding_models()
        return available[0] if available else None

    # --- recovery ----------------------------------------------------------------------

    async def recover(self) -> int:
        """Queue again documents whose processing stopped (no heartbeat for `stale_after`)."""
        queued, failed = await recover_abandoned(self.factory, self.settings)
        if queued or failed:
            log.warning("ingestion_recovered", requeued=queued, failed=failed)
            self.wake()
        return queued

    # --- the loop ----------------------------------------------------------------------

    async def _loop(self) -> None:
        await self._recover_logged()
        while not self._stopping:
            # Cleared before looking, so that a wake-up during the claim is not lost.
            self._wake.clear()
            try:
                document = await self.claim()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("ingestion_claim_failed")
                document = None
            if document is not None:
                try:
                    await self.process(document)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # Even marking the failure failed (the database is down): the document
                    # stays claimed, its heartbeat stops, and recovery requeues it.
                    log.exception("ingestion_job_abandoned", document_id=str(document.id))
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_interval)
            if not self._stopping:
                await self._recover_logged()

    async def _recover_logged(self) -> None:
        # A database briefly unreachable (or not migrated yet) must not end the loop.
        try:
            await self.recover()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("ingestion_recovery_failed")

    async def claim(self) -> Document | None:
        """Take a queued document, unless another worker takes it first.

        Organisations take turns: the oldest queued document of the organisation served
        least recently goes first, not the oldest of all, so that one organisation queuing
        a thousand files does not make everyone else's wait behind them. Within an
        organisation, files attached in a chat go before files of collections: someone is
        waiting in the conversation to ask about them, a referent's batch can wait.
        """
        async with self.factory() as session:
            for org_id in await self._turns(session):
                candidates = await session.scalars(
                    select(Document.id)
                    .where(Document.status == DocumentStatus.QUEUED, Document.org_id == org_id)
                    .order_by(Document.conversation_id.is_(None), Document.created_at)
                    .limit(8)
                )
                for document_id in list(candidates):
                    taken = await session.execute(
                        update(Document)
                        .where(Document.id == document_id, Document.status == DocumentStatus.QUEUED)
                        .values(status=DocumentStatus.PARSING, progress=0.0, updated_at=utcnow())
                    )
                    await session.commit()
                    if rowcount(taken) == 1:
                        self._served[org_id] = next(self._tickets)
                        return await session.get(Document, document_id, populate_existing=True)
        return None

    async def _turns(self, session: AsyncSession) -> list[uuid.UUID]:
        """Organisations with queued documents, whose turn comes first first.

        First those with the fewest documents in progress right now (in any process: the
        database tells), then those this process served least recently (never first), then
        the one whose queued document is oldest.
        """
        queued = (
            await session.execute(
                select(Document.org_id, func.min(Document.created_at))
                .where(Document.status == DocumentStatus.QUEUED)
                .group_by(Document.org_id)
            )
        ).all()
        if len(queued) <= 1:
            return [org_id for org_id, _ in queued]
        running = await session.execute(
            select(Document.org_id, func.count())
            .where(Document.status.in_((DocumentStatus.PARSING, DocumentStatus.INDEXING)))
            .group_by(Document.org_id)
        )
        busy = {org_id: int(count) for org_id, count in running.all()}
        order = sorted(
            queued, key=lambda row: (busy.get(row[0], 0), self._served.get(row[0], -1), row[1])
        )
        return [org_id for org_id, _ in order]

    # --- one job -----------------------------------------------------------------------

    async def process(self, document: Document) -> None:
        """Run one claimed document to `ready` or `failed`; never raises (but cancellation)."""
        job = _Job(document)
        self.active += 1
        heartbeat = asyncio.create_task(self._heartbeat(job))
        try:
            await self._run(job)
        except _Gone:
            log.info("ingestion_dropped_deleted_document", document_id=str(document.id))
        except ExtractionError as exc:
            await self._fail(document.id, exc.template, exc.values)
        except _Failed as exc:
            await self._fail(document.id, exc.reason, exc.values)
        except asyncio.CancelledError:
            # Stopped (SIGTERM, shutdown): another worker takes it now, not after stale_after.
            await self._release(document.id)
            raise
        except Exception as exc:
            if not (database_busy(exc) or database_unreachable(exc)):
                log.exception("ingestion_failed", document_id=str(document.id))
                await self._fail(document.id, errors.UNEXPECTED_FAILURE)
                return
            # An overloaded or restarting database says nothing about the document: it is
            # queued again, after a pause that keeps this worker from claiming it at once.
            log.warning("ingestion_deferred", document_id=str(document.id), error=repr(exc))
            await asyncio.sleep(self.settings.retry_delay)
            await self._release(document.id)
        finally:
            self.active -= 1
            await cancel_and_wait(heartbeat)

    async def _release(self, document_id: uuid.UUID) -> None:
        """Queue a document this process stops working on again, without counting a try."""
        try:
            async with self.factory() as session:
                await session.execute(
                    update(Document)
                    .where(
                        Document.id == document_id,
                        Document.status.in_((DocumentStatus.PARSING, DocumentStatus.INDEXING)),
                    )
                    .values(status=DocumentStatus.QUEUED, progress=0.0, updated_at=utcnow())
                )
                await session.commit()
            log.info("ingestion_released", document_id=str(document_id))
        except Exception:
            # Recovery requeues it after stale_after anyway.
            log.warning("ingestion_release_failed", document_id=str(document_id), exc_info=True)

    async def _run(self, job: _Job) -> None:
        document = job.document
        try:
            data = await asyncio.to_thread(self.store.read, document.sha256)
        except FileNotFoundError:
            raise _Gone() from None
        settings = await self._settings_for(document)
        limits = extraction_limits(settings)

        def on_pages(done: int, total: int) -> None:
            # Called from the parsing thread: only record; the heartbeat writes it.
            job.progress = _PARSED * done / max(total, 1)

        started = time.perf_counter()
        extracted: ExtractedDocument = await asyncio.to_thread(
            extract, data, document.name, limits, on_pages
        )
        parsed = time.perf_counter()
        if document.chunking:  # Albert's options of the upload
            options = ChunkingOptions.from_json(document.chunking)
            drafts = await asyncio.to_thread(
                chunk_with_options, extracted, options, settings.max_passages
            )
        else:
            drafts = await asyncio.to_thread(  # a long document takes a while: not on the loop
                chunk,
                extracted,
                settings.chunk_tokens,
                settings.chunk_overlap,
                settings.max_passages,
            )
        chunked = time.perf_counter()
        if not drafts:
            raise _Failed(NO_TEXT)
        await self._set_status(document.id, DocumentStatus.INDEXING, _PARSED)
        job.progress = _PARSED
        vectors = await self._embed(job, extracted.title, drafts, lambda p: _set(job, p))
        embedded = time.perf_counter()
        await self._finish(document, extracted, drafts, vectors)
        done = time.perf_counter()
        self._count(parsed - started, chunked - parsed, embedded - chunked, done - embedded)
        self.timings.chunks += len(drafts)
        log.info(
            "document_ready",
            document_id=str(document.id),
            pages=extracted.pages,
            chunks=len(drafts),
            seconds=round(done - started, 2),
        )

    async def _settings_for(self, document: Document) -> DocumentSettings:
        """The deployment's document settings, with the organisation's own limits if any."""
        async with self.factory() as session:
            overrides = await session.scalar(
                select(Organisation.document_limits).where(Organisation.id == document.org_id)
            )
        return with_org_limits(self.settings, overrides)

    def _count(self, parse: float, chunking: float, embed: float, write: float) -> None:
        self.timings.parse += parse
        self.timings.chunk += chunking
        self.timings.embed += embed
        self.timings.write += write
        self.timings.documents += 1

    async def _embed(
        self,
        job: _Job,
        title: str | None,
        drafts: Sequence[ChunkDraft],
        report: Callable[[float], None],
    ) -> list[list[float]]:
        """Vectors of the passages, on behalf of the document's owner, with retries."""
        model = self.embedding_model()
        if model is None:
            raise _Failed(errors.NoEmbeddingModel().message)
        owner = await self._owner(job.document)
        texts = [passage_text(title, draft) for draft in drafts]
        size = self.settings.embed_batch
        batches = [texts[start : start + size] for start in range(0, len(texts), size)]
        results: list[list[list[float]] | None] = [None] * len(batches)
        done = 0
        # Several batches in flight, so that every replica of the embedding model works on
        # this document at once (the gateway's pool sends each to the least loaded replica).
        # Never more than the healthy replicas take at once: the rest would only wait in
        # the pool's queue, where a long document could time out.
        lanes = asyncio.Semaphore(self._embedding_lanes(model))

        async def one(index: int) -> None:
            nonlocal done
            async with lanes:
                if index and not await self._still_there(job.document.id):
                    raise _Gone()  # deleted meanwhile: spare the embedding model the rest
                vectors = await self._embed_batch(job, owner, model, batches[index])
            results[index] = vectors
            done += len(vectors)
            report(_PARSED + (1 - _PARSED) * done / len(texts))

        tasks = [asyncio.create_task(one(index)) for index in range(len(batches))]
        try:
            await asyncio.gather(*tasks)
        finally:
            # One batch failed or the job was cancelled: the others must not keep running.
            for task in tasks:
                await cancel_and_wait(task)
        return [vector for batch in results if batch is not None for vector in batch]

    def _embedding_lanes(self, model: str) -> int:
        """Batches of one document sent at once: what the healthy replicas take at once."""
        if self.settings.embed_parallel is not None:
            return self.settings.embed_parallel
        pool = self.models.gateway.pools.get(model)
        if pool is None:
            return 1
        states = pool.states()
        healthy = [s for s in states if s.healthy] or states
        return max(1, sum(s.capacity for s in healthy))

    async def _still_there(self, document_id: uuid.UUID) -> bool:
        async with self.factory() as session:
            status = await session.scalar(select(Document.status).where(Document.id == document_id))
        return status == DocumentStatus.INDEXING

    async def _embed_batch(
        self, job: _Job, owner: Principal, model: str, batch: list[str]
    ) -> list[list[float]]:
        document_id = job.document.id
        while True:
            seen = job.failures
            try:
                return await self.models.embed(owner, model, batch, input_type="passage")
            except (ModelNotFound, WrongModelType) as exc:
                raise _Failed(exc.message) from exc
            except AutanError as exc:
                async with job.retrying:
                    # Batches in flight together fail together: one outage is one attempt,
                    # counted and waited out by the first batch that saw it.
                    if job.failures != seen:
                        continue
                    job.failures += 1
                    attempts = await self._add_attempt(document_id)
                    log.warning(
                        "embedding_failed",
                        document_id=str(document_id),
                        attempt=attempts,
                        error=str(exc),
                    )
                    if attempts >= self.settings.max_attempts:
                        raise _Failed(
                            errors.EMBEDDING_FAILURE,
                            attempts=Plural("{count} try", "{count} tries", attempts),
                        ) from exc
                    await asyncio.sleep(self.settings.retry_delay * 2 ** (job.failures - 1))

    async def _owner(self, document: Document) -> Principal:
        async with self.factory() as session:
            user = await session.get(User, document.owner_id)
        if user is None:
            raise _Gone()
        return Principal(user_id=user.id, org_id=user.org_id, email=user.email, role=user.role)

    async def _add_attempt(self, document_id: uuid.UUID) -> int:
        async with self.factory() as session:
            await session.execute(
                update(Document)
                .where(Document.id == document_id)
                .values(attempts=Document.attempts + 1, updated_at=utcnow())
            )
            await session.commit()
            attempts = await session.scalar(
                select(Document.attempts).where(Document.id == document_id)
            )
        if attempts is None:
            raise _Gone()
        return int(attempts)

    async def _finish(
        self,
        document: Document,
        extracted: ExtractedDocument,
        drafts: Sequence[ChunkDraft],
        vectors: Sequence[Sequence[float]],
    ) -> None:
        """Write every chunk and mark the document ready, in one transaction."""
        async with self.factory() as session:
            marked = await session.execute(
                update(Document)
                .where(Document.id == document.id, Document.status == DocumentStatus.INDEXING)
                .values(
                    status=DocumentStatus.READY,
                    progress=1.0,
                    error=None,
                    pages=extracted.pages,
                    title=(extracted.title or None) and extracted.title[:500],
                    chunk_count=len(drafts),
                    updated_at=utcnow(),
                )
            )
            if rowcount(marked) != 1:
                await session.rollback()
                raise _Gone()
            fresh = await session.get(Document, document.id, populate_existing=True)
            assert fresh is not None
            await delete_document_chunks(session, document.id)
            await add_chunks(session, fresh, drafts, vectors)
            await session.commit()
        # Again after the commit: a search between the write and the commit may have cached
        # the collection's vectors without these chunks.
        matrix_cache.invalidate(document.collection_id)

    async def _set_status(
        self, document_id: uuid.UUID, status: DocumentStatus, progress: float
    ) -> None:
        async with self.factory() as session:
            changed = await session.execute(
                update(Document)
                .where(Document.id == document_id, Document.status != DocumentStatus.FAILED)
                .values(status=status, progress=progress, updated_at=utcnow())
            )
            await session.commit()
        if rowcount(changed) != 1:
            raise _Gone()

    async def _fail(
        self, document_id: uuid.UUID, reason: str, values: dict[str, Any] | None = None
    ) -> None:
        """Mark a document failed; `reason` is a message template when `values` are given."""
        text = (
            reason.format(**{k: english_value(v) for k, v in values.items()}) if values else reason
        )
        async with self.factory() as session:
            await session.execute(
                update(Document)
                .where(Document.id == document_id)
                .values(
                    status=DocumentStatus.FAILED,
                    error=text,
                    error_template=reason if values else None,
                    error_values=values or None,
                    updated_at=utcnow(),
                )
            )
            await session.commit()
        log.info("document_failed", document_id=str(document_id), reason=text)

    async def _heartbeat(self, job: _Job) -> None:
        """Write the progress when it moved, and refresh `updated_at` at least every few s."""
        beat = max(_PROGRESS_EVERY, min(10.0, self.settings.stale_after / 4))
        last = time.monotonic()
        while True:
            await asyncio.sleep(_PROGRESS_EVERY)
            moved = abs(job.progress - job.written) >= 0.01
            if not moved and time.monotonic() - last < beat:
                continue
            progress = job.progress
            try:
                async with self.factory() as session:
                    await session.execute(
                        update(Document)
                        .where(
                            Document.id == job.document.id,
                            Document.status.in_((DocumentStatus.PARSING, DocumentStatus.INDEXING)),
                        )
                        .values(progress=progress, updated_at=utcnow())
                    )
                    await session.commit()
            except Exception:
                log.exception("ingestion_progress_write_failed")
            job.written = progress
            last = time.monotonic()


# The limits an organisation may set for its own documents (Organisation.document_limits).
ORG_LIMITS = ("max_characters", "max_passages", "max_unpacked_bytes", "max_pages")


def with_org_limits(
    settings: DocumentSettings, overrides: dict[str, Any] | None
) -> DocumentSettings:
    """The settings with an organisation's limits in place of the deployment's.

    Unknown names and values that are not positive whole numbers are ignored (and logged):
    a typo in one organisation's row must not stop its ingestion.
    """
    if not overrides:
        return settings
    valid = {
        name: value
        for name, value in overrides.items()
        if name in ORG_LIMITS
        and isinstance(value, int)
        and not isinstance(value, bool)
        and value > 0
    }
    if len(valid) != len(overrides):
        log.warning(
            "organisation_document_limits_ignored", ignored=sorted(set(overrides) - set(valid))
        )
    return settings.model_copy(update=valid)


def extraction_limits(settings: DocumentSettings) -> ExtractionLimits:
    """The bounds of one extraction, from the deployment's document settings."""
    return ExtractionLimits(
        max_pages=settings.max_pages,
        ocr=settings.ocr,
        ocr_languages=settings.ocr_languages,
        ocr_max_pixels=settings.ocr_max_pixels,
        ocr_max_page_area=settings.ocr_max_page_area,
        max_characters=settings.max_characters,
        max_unpacked_bytes=settings.max_unpacked_bytes,
    )


def _set(job: _Job, progress: float) -> None:
    job.progress = progress
