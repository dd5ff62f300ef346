"""Real databases for the benchmark: a SQLite file and a PostgreSQL server from pgserver."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pgserver

from autan.core.db import create_engine
from autan.core.migrate import upgrade

WORK = Path(__file__).resolve().parent.parent / ".work" / "retrieval"


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def database(engine_name: str) -> AsyncIterator[str]:
    """The URL of a fresh, migrated database of this engine, removed afterwards."""
    WORK.mkdir(parents=True, exist_ok=True)
    if engine_name == "sqlite":
        path = WORK / "bench.db"
        for stale in WORK.glob("bench.db*"):
            stale.unlink()
        url = f"sqlite+aiosqlite:///{path}"
        await _migrate(url)
        yield url
        return
    root = WORK / "pg"
    shutil.rmtree(root, ignore_errors=True)
    server: Any = pgserver.get_server(root, cleanup_mode="stop")  # type: ignore[attr-defined]
    try:
        server.psql("CREATE DATABASE bench")
        url = f"postgresql+asyncpg://postgres@/bench?host={root}"
        await _migrate(url)
        yield url
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)
