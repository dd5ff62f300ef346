"""Reading usage rows back in tests (they are written in batches, shortly after a request)."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from autan.core.db import create_engine, session_factory
from autan.usage.models import UsageRecord


async def usage_rows(database_url: str, count: int, timeout: float = 5.0) -> list[UsageRecord]:
    """Wait until at least `count` usage rows exist and return them, oldest first."""
    engine = create_engine(database_url)
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            async with session_factory(engine)() as session:
                rows = list(await session.scalars(select(UsageRecord).order_by(UsageRecord.id)))
            if len(rows) >= count or asyncio.get_running_loop().time() > deadline:
                return rows
            await asyncio.sleep(0.05)
    finally:
        await engine.dispose()
