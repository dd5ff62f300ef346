"""The translation job runner: durable jobs of the worker queue, resumed section by section.

A job is a `translation_jobs` row, claimed like an ingestion job with a conditional UPDATE
(queued -> running) whose row count says whether this process won it, by `autan serve`'s
worker or any `autan worker`. While it works, the runner refreshes `updated_at` (its lease);
a job whose lease went stale (its process was killed) is queued again by whichever worker
looks next, one attempt more, and failed with a plain reason past `max_attempts`.

After each section the translated segments so far are saved with `sections_done`, so a job
taken over resumes at the next section: no section the model already translated is asked
again. Every write is conditional on the attempt this process claimed, so a process that
lost its lease (it was only slow) cannot overwrite the job's new holder.

Its owner may delete a job at any time, running included (`service.delete`): the runner
only ever UPDATEs the row, so nothing can write it back; its heartbeat finds it gone within
a beat and stops the model call in flight, and the runner takes the next job.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from asyncio import Task
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import undefer

from autan.accounts.models import User
from autan.accounts.principal import Principal
from autan.chat.errors import readable_message
from autan.core.db import database_busy, database_unreachable, rowcount, utcnow
from autan.core.errors import AutanError
from autan.core.job_loop import JobLoop, claim_oldest
from autan.core.tasks import cancel_and_wait
from autan.documents.settings import DocumentSettings
from autan.llm.client import ModelClient
from autan.translation.documents import DocumentUnreadable, read
from autan.translation.errors import (
    INTERRUPTED_TOO_OFTEN,
    SOURCE_DELETED,
    TRANSLATION_FAILED,
    UNREADABLE,
)
from autan.translation.models import TranslationJob, TranslationStatus
from autan.translation.service import parse_section, section_messages

log = structlog.get_logger(__name__)

_Running = (TranslationJob.status == TranslationStatus.RUNNING,)
# The deferred columns the worker reads (the file, and the segments kept across restarts).
_HEAVY = [undefer(TranslationJob.source), undefer(TranslationJob.translated)]


class _Gone(Exception):
    """The job was deleted, or taken from this process (its lease went stale), meanwhile."""


class _Failed(Exception):
    """The job cannot go on; `reason` (a catalogue sentence) is shown to its owner."""

    def __init__(self, reason: str | None) -> None:
        super().__init__(reason)
        self.reason = reason


class TranslationWorker(JobLoop[TranslationJob]):
    """Runs translation jobs in this process, one at a time, woken on each upload.

    Stopped, it puts the job in progress back in the queue with its sections done.
    """

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        models: ModelClient,
        settings: DocumentSettings,
    ) -> None:
        super().__init__("translation", settings.poll_interval)
        self._factory = factory
        self._models = models
        self._settings = settings

    async def recover(self) -> int:
        """Queue again the jobs whose lease went stale; fail those interrupted too often."""
        stale = utcnow() - timedelta(seconds=self._settings.stale_after)
        abandoned = (*_Running, TranslationJob.updated_at <= stale)
        async with self._factory() as session:
            failed = await session.execute(
                update(TranslationJob)
                .where(*abandoned, TranslationJob.attempts + 1 >= self._settings.max_attempts)
                .values(
                    status=TranslationStatus.FAILED,
                    error=INTERRUPTED_TOO_OFTEN,
                    attempts=TranslationJob.attempts + 1,
                    finished_at=utcnow(),
                    updated_at=utcnow(),
                )
            )
            queued = await session.execute(
                update(TranslationJob)
                .where(*abandoned)
                .values(
                    status=TranslationStatus.QUEUED,
                    attempts=TranslationJob.attempts + 1,
                    updated_at=utcnow(),
                )
            )
            await session.commit()
        if rowcount(queued) or rowcount(failed):
            log.warning("translation_recovered", requeued=rowcount(queued), failed=rowcount(failed))
        return rowcount(queued)

    async def claim(self) -> TranslationJob | None:
        """Take the oldest queued job, unless another process takes it first."""
        return await claim_oldest(
            self._factory,
            TranslationJob,
            TranslationStatus.QUEUED,
            TranslationStatus.RUNNING,
            _HEAVY,
        )

    # --- one job -----------------------------------------------------------------------

    async def process(self, job: TranslationJob) -> None:
        """Run one claimed job to `done` or `failed`; never raises (but cancellation)."""
        lease = job.attempts
        heartbeat = asyncio.create_task(self._heartbeat(job.id, lease))
        try:
            await self._until_gone(self._run(job, lease), heartbeat)
        except _Gone:
            log.info("translation_dropped", job_id=str(job.id))
        except _Failed as exc:
            await self._end(job.id, lease, error=exc.reason)
        except asyncio.CancelledError:
            # Stopped (SIGTERM, shutdown): another worker takes it now, not after stale_after.
            await asyncio.shield(self._release(job.id, lease))
            raise
        except Exception as exc:
            if database_busy(exc) or database_unreachable(exc):
                # Says nothing of the job: queued again once the database answers.
                log.warning("translation_deferred", job_id=str(job.id), error=repr(exc))
                await asyncio.sleep(self._settings.retry_delay)
                await self._release(job.id, lease)
            else:
                log.exception("translation_failed", job_id=str(job.id))
                await self._end(job.id, lease, error=TRANSLATION_FAILED)
        finally:
            await cancel_and_wait(heartbeat)

    async def _until_gone(self, work: Coroutine[Any, Any, None], heartbeat: Task[None]) -> None:
        """Run the job's work; stop it, raising _Gone, as soon as the heartbeat ends (the
        job was deleted or taken over), so that a deleted job does not wait for the model
        call in flight, which may take minutes."""
        run = asyncio.create_task(work)
        try:
            await asyncio.wait({run, heartbeat}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            await cancel_and_wait(run)  # stopped before the job is released
            raise
        if not run.done():
            await cancel_and_wait(run)
            raise _Gone()
        run.result()  # its outcome (_Gone, _Failed, ...) is the job's

    async def _run(self, job: TranslationJob, lease: int) -> None:
        principal = await self._principal(job)
        if job.source is None:
            raise _Failed(SOURCE_DELETED)
        try:
            document = read(job.source, job.fmt)
        except DocumentUnreadable:
            raise _Failed(UNREADABLE) from None
        texts = [segment.text for segment in document.segments]
        kept = list(job.translated or [])[: len(texts)]
        texts[: len(kept)] = kept
        start = job.sections_done if kept else 0
        if start:
            log.info("translation_resumed", job_id=str(job.id), sections_done=start)
        for number in range(start, len(document.sections)):
            section = document.sections[number]
            originals = [texts[i] for i in section]
            # A translation is about as long as its source: bound the answer to that.
            budget = 64 + sum(len(t) for t in originals) // 2
            try:
                answer = await self._models.complete_chat(
                    principal,
                    job.model,
                    section_messages(originals, job.target_lang),
                    endpoint="translation",
                    max_tokens=min(budget, 4096),
                )
            except AutanError as exc:
                # A fixed sentence (the model's failure without its name).
                raise _Failed(readable_message(exc)) from exc
            for index, text in zip(section, parse_section(answer, originals), strict=True):
                texts[index] = text
            await self._save(
                job.id,
                lease,
                sections_done=number + 1,
                translated=texts[: section[-1] + 1],
            )
            log.info("translation_section_done", job_id=str(job.id), section=number + 1)
        result = await asyncio.to_thread(document.write, texts)
        if not await self._end(job.id, lease, result=result):
            raise _Gone()  # deleted (or taken over) while the document was being written
        log.info("translation_done", job_id=str(job.id), sections=len(document.sections))

    async def _principal(self, job: TranslationJob) -> Principal:
        async with self._factory() as session:
            user = await session.get(User, job.user_id)
        if user is None:
            raise _Gone()
        return Principal(user_id=user.id, org_id=user.org_id, email=user.email, role=user.role)

    async def _save(self, job_id: uuid.UUID, lease: int, **values: Any) -> None:
        """Write the job's progress while this process holds its lease and its source."""
        async with self._factory() as session:
            done = await session.execute(
                update(TranslationJob)
                .where(
                    TranslationJob.id == job_id,
                    *_Running,
                    TranslationJob.attempts == lease,
                    TranslationJob.source.is_not(None),
                )
                .values(updated_at=utcnow(), **values)
            )
            await session.commit()
            if rowcount(done) == 1:
                return
            deleted = await session.scalar(
                select(TranslationJob.id).where(
                    TranslationJob.id == job_id,
                    *_Running,
                    TranslationJob.attempts == lease,
                    TranslationJob.source.is_(None),
                )
            )
        if deleted is not None:
            raise _Failed(SOURCE_DELETED)
        raise _Gone()

    async def _end(
        self,
        job_id: uuid.UUID,
        lease: int,
        *,
        result: bytes | None = None,
        error: str | None = None,
    ) -> bool:
        """Mark the job done (with its result) or failed (the sections kept are dropped);
        False if it was not this process's to end any more (deleted, or taken over)."""
        status = TranslationStatus.DONE if result is not None else TranslationStatus.FAILED
        async with self._factory() as session:
            ended = await session.execute(
                update(TranslationJob)
                .where(TranslationJob.id == job_id, *_Running, TranslationJob.attempts == lease)
                .values(
                    status=status,
                    result=result,
                    error=error,
                    translated=None,
                    finished_at=utcnow(),
                    updated_at=utcnow(),
                )
            )
            await session.commit()
        return rowcount(ended) == 1

    async def _release(self, job_id: uuid.UUID, lease: int) -> None:
        """Queue a job this process stops working on again, keeping its sections done."""
        try:
            async with self._factory() as session:
                await session.execute(
                    update(TranslationJob)
                    .where(TranslationJob.id == job_id, *_Running, TranslationJob.attempts == lease)
                    .values(status=TranslationStatus.QUEUED, updated_at=utcnow())
                )
                await session.commit()
            log.info("translation_released", job_id=str(job_id))
        except Exception:
            # Recovery requeues it after stale_after anyway.
            log.warning("translation_release_failed", job_id=str(job_id), exc_info=True)

    async def _heartbeat(self, job_id: uuid.UUID, lease: int) -> None:
        """Refresh the lease while the job runs (a model call may outlast `stale_after`);
        return once the job is no longer this process's (deleted, or taken over)."""
        beat = max(0.2, min(10.0, self._settings.stale_after / 4))
        last = time.monotonic()
        while True:
            await asyncio.sleep(max(0.0, beat - (time.monotonic() - last)))
            last = time.monotonic()
            try:
                async with self._factory() as session:
                    beaten = await session.execute(
                        update(TranslationJob)
                        .where(
                            TranslationJob.id == job_id,
                            *_Running,
                            TranslationJob.attempts == lease,
                        )
                        .values(updated_at=utcnow())
                    )
                    await session.commit()
                if rowcount(beaten) == 0:
                    return
            except Exception:
                log.warning("translation_heartbeat_failed", job_id=str(job_id), exc_info=True)
