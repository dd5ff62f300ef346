"""The sync schedule: a background task of the processes that run the ingestion worker.

Any number of processes share the connections: a sync is claimed by a conditional UPDATE
(`running_since` empty or stale), so one process syncs a folder at a time; the claimer
beats `running_since` while it works, and a process that died is taken over after
`stale_after`.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.connectors.models import DriveConnection, DriveStatus
from autan.connectors.settings import ConnectorSettings
from autan.connectors.sync import DriveSync
from autan.core.db import rowcount, utcnow
from autan.core.tasks import cancel_and_wait

log = structlog.get_logger(__name__)


class DriveSyncer:
    """Runs the syncs that are due (schedule) or asked for ("Synchroniser maintenant")."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        sync: DriveSync,
        settings: ConnectorSettings,
    ) -> None:
        self._factory = factory
        self._sync = sync
        self._settings = settings
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def start(self) -> None:
        """Start the schedule (if enabled)."""
        if self._settings.enabled and self._task is None:
            self._task = asyncio.create_task(self._run(), name="drive-sync")

    def wake(self) -> None:
        """Look for due syncs now rather than at the next poll."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop it; a sync under way is cancelled and its claim left to go stale."""
        await cancel_and_wait(self._task)
        self._task = None

    async def run_due(self) -> int:
        """Run every sync that is due now, one after the other; how many ran."""
        ran = 0
        while (connection_id := await self._claim()) is not None:
            await self._run_one(connection_id)
            ran += 1
        return ran

    async def _run(self) -> None:
        while True:
            try:
                await self.run_due()
            except (SQLAlchemyError, OSError) as exc:
                # A database restart must not end the schedule: the next poll catches up
                # (OSError: asyncpg reports a refused Unix socket unwrapped).
                log.error("drive_sync_failed", error=str(exc))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.poll_interval)

    async def _claim(self) -> uuid.UUID | None:
        now = utcnow()
        stale = now - timedelta(seconds=self._settings.stale_after)
        async with self._factory() as session:
            candidates = await session.scalars(
                select(DriveConnection.id)
                .where(DriveConnection.status == DriveStatus.ACTIVE)
                .where(or_(DriveConnection.sync_requested, DriveConnection.next_sync_at <= now))
                .where(
                    or_(
                        DriveConnection.running_since.is_(None),
                        DriveConnection.running_since < stale,
                    )
                )
                .order_by(DriveConnection.next_sync_at)
                .limit(5)
            )
            for connection_id in list(candidates):
                claimed = await session.execute(
                    update(DriveConnection)
                    .where(DriveConnection.id == connection_id)
                    .where(
                        or_(
                            DriveConnection.running_since.is_(None),
                            DriveConnection.running_since < stale,
                        )
                    )
                    .values(running_since=now, sync_requested=False)
                )
                await session.commit()
                if rowcount(claimed) == 1:
                    return connection_id
        return None

    async def _run_one(self, connection_id: uuid.UUID) -> None:
        beat = asyncio.create_task(self._heartbeat(connection_id))
        try:
            await self._sync.run(connection_id)
        finally:
            await cancel_and_wait(beat)
            async with self._factory() as session:
                await session.execute(
                    update(DriveConnection)
                    .where(DriveConnection.id == connection_id)
                    .values(
                        running_since=None,
                        next_sync_at=utcnow() + timedelta(seconds=self._settings.interval),
                    )
                )
                await session.commit()

    async def _heartbeat(self, connection_id: uuid.UUID) -> None:
        while True:
            await asyncio.sleep(self._settings.stale_after / 3)
            async with self._factory() as session:
                await session.execute(
                    update(DriveConnection)
                    .where(DriveConnection.id == connection_id)
                    .values(running_since=utcnow())
                )
                await session.commit()
