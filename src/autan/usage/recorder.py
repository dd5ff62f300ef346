"""Usage rows are buffered in memory and written in batches, off the request path.

A streamed answer costs no database work per token, and a burst of short requests costs one
INSERT per flush interval instead of one per request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Table, insert, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts.models import ApiKey
from autan.core.db import utcnow
from autan.core.tasks import cancel_and_wait
from autan.llm.events import CallFinished
from autan.usage import rollup
from autan.usage.models import UsageRecord

log = structlog.get_logger(__name__)

# Past this many unwritten rows (a database down for a long time) the oldest are dropped
# rather than letting memory grow without bound.
MAX_PENDING = 200_000
USAGE_TABLE: Table = UsageRecord.__table__  # type: ignore[assignment]


class UsageRecorder:
    """Collects usage rows and API-key last-use times; a background task writes them."""

    def __init__(self, factory: async_sessionmaker[AsyncSession], interval: float) -> None:
        self._factory = factory
        self._interval = interval
        self._rows: list[dict[str, Any]] = []
        self._key_uses: dict[uuid.UUID, datetime] = {}
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    def record(self, **row: Any) -> None:
        """Queue one usage row (columns of `UsageRecord`)."""
        row.setdefault("created_at", utcnow())
        self._rows.append(row)
        key_id = row.get("api_key_id")
        if key_id is not None:
            self._key_uses[key_id] = row["created_at"]

    def on_call_finished(self, event: CallFinished) -> None:
        """Queue the usage row of a finished model request."""
        self.record(**dataclasses.asdict(event))

    def start(self) -> None:
        """Start the periodic writer."""
        self._task = asyncio.create_task(self._run(), name="usage-recorder")

    async def stop(self) -> None:
        """Stop the writer and write what is left."""
        await cancel_and_wait(self._task)
        self._task = None
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.flush()

    async def flush(self) -> None:
        """Write every queued row now."""
        rows, self._rows = self._rows, []
        key_uses, self._key_uses = self._key_uses, {}
        if not rows and not key_uses:
            return
        try:
            async with self._factory() as session, session.begin():
                if rows:
                    # Core insert: the ORM's bulk path costs more Python per row, on the event loop.
                    await session.execute(insert(USAGE_TABLE), rows)
                    # Same transaction: a failed flush, queued again, is not counted twice.
                    await rollup.add(session, rows)
                if key_uses:
                    await session.execute(
                        update(ApiKey),
                        [{"id": key_id, "last_used_at": at} for key_id, at in key_uses.items()],
                    )
        except (SQLAlchemyError, OSError) as exc:
            # OSError: asyncpg reports an unreachable server's socket unwrapped; the writer
            # must live through a database restart, or every later row would be lost.
            log.error("usage_flush_failed", rows=len(rows), error=str(exc))
            self._requeue(rows, key_uses)

    def _requeue(self, rows: list[dict[str, Any]], key_uses: dict[uuid.UUID, datetime]) -> None:
        self._rows[:0] = rows
        for key_id, at in key_uses.items():
            self._key_uses.setdefault(key_id, at)
        overflow = len(self._rows) - MAX_PENDING
        if overflow > 0:
            del self._rows[:overflow]
            self.dropped += overflow
