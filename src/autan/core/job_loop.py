"""The loop of a background job queue: take back abandoned jobs, claim one, run it; when
there is none, sleep until woken (a job was queued here) or until the next poll."""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.interfaces import ORMOption

from autan.core.db import rowcount, utcnow
from autan.core.tasks import cancel_and_wait

log = structlog.get_logger(__name__)

Job = TypeVar("Job")
Row = TypeVar("Row")


async def claim_oldest(
    factory: async_sessionmaker[AsyncSession],
    model: type[Row],
    queued: str,
    running: str,
    options: Sequence[ORMOption] = (),
) -> Row | None:
    """Take the oldest `queued` row of a job table (columns `id`, `status`, `created_at`,
    `updated_at`) by moving it to `running`, unless another process takes it first."""
    table: Any = model
    async with factory() as session:
        candidates = await session.scalars(
            select(table.id).where(table.status == queued).order_by(table.created_at).limit(8)
        )
        for job_id in list(candidates):
            taken = await session.execute(
                update(table)
                .where(table.id == job_id, table.status == queued)
                .values(status=running, updated_at=utcnow())
            )
            await session.commit()
            if rowcount(taken) == 1:
                return await session.get(model, job_id, populate_existing=True, options=options)
    return None


class JobLoop(ABC, Generic[Job]):
    """`concurrency` loops in this process over one queue; subclasses say how a job is
    recovered, claimed and run."""

    def __init__(self, name: str, poll_interval: float, concurrency: int = 1) -> None:
        self._name = name
        self._poll_interval = poll_interval
        self._concurrency = concurrency
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    async def start(self) -> None:
        """Start the loops; the first thing each does is take back abandoned jobs."""
        self._stopping = False
        for n in range(self._concurrency):
            self._tasks.append(asyncio.create_task(self._loop(), name=f"{self._name}-{n}"))

    async def stop(self) -> None:
        """Stop the loops: a job in progress is cancelled and ends as its `process` says."""
        self._stopping = True
        self._wake.set()
        for task in self._tasks:
            await cancel_and_wait(task)
        self._tasks.clear()

    def wake(self) -> None:
        """Tell the loops that a job was queued."""
        self._wake.set()

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self.recover()
                job = await self.claim()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A database briefly unreachable must not end the loop.
                log.exception("job_claim_failed", queue=self._name)
                job = None
            if job is not None:
                await self.process(job)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)

    @abstractmethod
    async def recover(self) -> int:
        """Deal with the jobs whose process stopped; how many there were."""

    @abstractmethod
    async def claim(self) -> Job | None:
        """The next queued job, now this process's, or None."""

    @abstractmethod
    async def process(self, job: Job) -> None:
        """Run a claimed job to its end (success, failure or interruption)."""
