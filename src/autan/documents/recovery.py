"""Documents a stopped server left half-processed go back to the queue (or fail, at last).

A worker refreshes `updated_at` of the document it processes every few seconds (its
heartbeat). A document in `parsing` or `indexing` whose heartbeat stopped for longer than
`stale_after` was abandoned: its server was killed or restarted. It is queued again, one
attempt more; past `max_attempts` it fails with a plain reason rather than loop for ever.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.core.db import rowcount, utcnow
from autan.documents.errors import INTERRUPTED_TOO_OFTEN
from autan.documents.models import Document, DocumentStatus
from autan.documents.settings import DocumentSettings

_BUSY = (DocumentStatus.PARSING, DocumentStatus.INDEXING)


async def recover_abandoned(
    factory: async_sessionmaker[AsyncSession], settings: DocumentSettings
) -> tuple[int, int]:
    """Requeue abandoned documents; returns (queued again, failed for good)."""
    stale = utcnow() - timedelta(seconds=settings.stale_after)
    abandoned = (Document.status.in_(_BUSY), Document.updated_at <= stale)
    async with factory() as session:
        failed = await session.execute(
            update(Document)
            .where(*abandoned, Document.attempts + 1 >= settings.max_attempts)
            .values(
                status=DocumentStatus.FAILED,
                error=INTERRUPTED_TOO_OFTEN,
                attempts=Document.attempts + 1,
                updated_at=utcnow(),
            )
        )
        queued = await session.execute(
            update(Document)
            .where(*abandoned)
            .values(
                status=DocumentStatus.QUEUED,
                progress=0.0,
                attempts=Document.attempts + 1,
                updated_at=utcnow(),
            )
        )
        await session.commit()
    return rowcount(queued), rowcount(failed)
