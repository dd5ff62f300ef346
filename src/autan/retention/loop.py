"""The scheduled purge: a background task of the processes that run the ingestion worker."""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.core.tasks import cancel_and_wait
from autan.documents.storage import FileStore
from autan.retention.service import purge
from autan.retention.settings import RetentionSettings

log = structlog.get_logger(__name__)


class RetentionPurger:
    """Applies every organisation's retention rule every `interval` seconds."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        store: FileStore,
        settings: RetentionSettings,
    ) -> None:
        self._factory = factory
        self._store = store
        self._settings = settings
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the periodic purge (if enabled)."""
        if self._settings.enabled and self._task is None:
            self._task = asyncio.create_task(self._run(), name="retention-purge")

    async def stop(self) -> None:
        """Stop it; a purge under way stops between two batches' transactions."""
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        await asyncio.sleep(self._settings.first_delay)
        while True:
            try:
                done = await purge(self._factory, self._store)
                log.info(
                    "retention_purged",
                    conversations=done.conversations,
                    documents=done.documents,
                    usage_rows=done.usage_rows,
                    translations=done.translations,
                    research_runs=done.research_runs,
                )
            except (SQLAlchemyError, OSError) as exc:
                # A database restart must not end the schedule: the next run catches up.
                log.error("retention_purge_failed", error=str(exc))
            await asyncio.sleep(self._settings.interval)
