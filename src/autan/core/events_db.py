"""Events between processes through the database, when there is no Redis.

Services' events are written to `change_events` in their own transaction (an outbox); each
process reads the rows above the last id it saw every `poll_interval` seconds (one indexed
query returning nothing in the common case) and trims rows older than `retention_seconds`.

On PostgreSQL ids come from a sequence and are taken before commit, so a transaction may
commit id 7 after another committed id 8: ids skipped over are remembered for a few
seconds and asked for again, so a late commit is still seen.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import JSON, BigInteger, Index, Integer, String, delete, func, insert, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, Session, mapped_column

from autan.core.db import Base, utcnow
from autan.core.events import Event, decode, encode

if TYPE_CHECKING:
    from autan.core.events import EventBus

log = structlog.get_logger(__name__)

# How long an id skipped over is looked for again (a transaction commits well within this).
_HOLE_SECONDS = 10.0
_TRIM_EVERY = 30.0
_BATCH = 1000


class ChangeEvent(Base):
    """One domain event, kept a few minutes for the other processes to read."""

    __tablename__ = "change_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    kind: Mapped[str] = mapped_column(String(64))
    origin: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_change_events_created_at", "created_at"),)


class DatabaseTransport:
    """Sends events as rows of the service's transaction; receives by polling."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        poll_interval: float = 0.25,
        retention_seconds: float = 300.0,
    ) -> None:
        self._factory = factory
        self._interval = poll_interval
        self._retention = retention_seconds
        self._last = 0
        self._holes: dict[int, float] = {}  # id skipped over -> when to stop looking for it
        self._trimmed_at = 0.0
        self._down_since: float | None = None

    def outbox(self, session: Session, origin: str, events: list[Event]) -> None:
        """Write the events in the committing transaction."""
        now = utcnow()
        rows = [{**encode(e), "origin": origin, "created_at": now} for e in events]
        session.execute(insert(ChangeEvent), rows)

    def send(self, origin: str, events: list[Event]) -> None:
        """Nothing to do: the rows were committed with the change."""

    async def flush(self) -> None:
        """Nothing waits: the rows were committed with the change."""

    async def close(self) -> None:
        """Nothing to close: the engine belongs to the application."""

    async def run(self, bus: EventBus) -> None:
        """Poll for other processes' events until cancelled."""
        while True:
            try:
                await self._start()
                break
            except (SQLAlchemyError, OSError) as error:  # a refused connection is not wrapped
                await self._failed(bus, error)
                await asyncio.sleep(self._interval)
        while True:
            await asyncio.sleep(self._interval)
            try:
                events = await self.poll(bus.origin)
                await self._trim()
            except (SQLAlchemyError, OSError) as error:  # a refused connection is not wrapped
                await self._failed(bus, error)
                continue
            if not bus.healthy:
                # Events committed while this process could not read them are still in the
                # table (they are read below) unless the outage outlasted their retention:
                # only then may one have been missed, and the caches start afresh.
                down = time.monotonic() - (self._down_since or time.monotonic())
                self._down_since = None
                await bus.set_healthy(True, forget=down >= self._retention / 2)
            if events:
                bus.deliver(events)

    async def _failed(self, bus: EventBus, error: Exception) -> None:
        # The traceback once per outage; while it lasts, one line per poll is enough.
        if self._down_since is None:
            log.warning("event_poll_failed", exc_info=error)
        else:
            log.warning("event_poll_failed", error=repr(error))
        # The events live in the database: while it cannot be read, no change can be committed
        # to it either, so the caches still hold the truth. Emptying them would turn every
        # cached API key into a 503. Entries cached from now on get the degraded TTL.
        if self._down_since is None:
            self._down_since = time.monotonic()
        await bus.set_healthy(False, forget=False)

    async def _start(self) -> None:
        async with self._factory() as session:
            self._last = await session.scalar(select(func.max(ChangeEvent.id))) or 0

    async def poll(self, origin: str) -> list[Event]:
        """Other processes' events committed since the last poll."""
        now = time.monotonic()
        self._holes = {i: until for i, until in self._holes.items() if until > now}
        condition = ChangeEvent.id > self._last
        if self._holes:
            condition = or_(condition, ChangeEvent.id.in_(list(self._holes)))
        async with self._factory() as session:
            rows = (
                await session.execute(
                    select(
                        ChangeEvent.id, ChangeEvent.kind, ChangeEvent.origin, ChangeEvent.payload
                    )
                    .where(condition)
                    .order_by(ChangeEvent.id)
                    .limit(_BATCH)
                )
            ).all()
        events = []
        for row_id, kind, row_origin, payload in rows:
            self._holes.pop(row_id, None)
            if row_id > self._last:
                for missing in range(self._last + 1, min(row_id, self._last + 100)):
                    self._holes[missing] = now + _HOLE_SECONDS
                self._last = row_id
            if row_origin == origin:
                continue  # delivered at commit already
            found = decode(kind, payload)
            if found is not None:
                events.append(found)
        return events

    async def _trim(self) -> None:
        now = time.monotonic()
        if now - self._trimmed_at < _TRIM_EVERY:
            return
        self._trimmed_at = now
        cutoff = utcnow() - timedelta(seconds=self._retention)
        async with self._factory() as session:
            await session.execute(delete(ChangeEvent).where(ChangeEvent.created_at < cutoff))
            await session.commit()
