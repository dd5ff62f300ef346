"""Fresh, migrated databases on SQLite and PostgreSQL for each test.

A migrated template is built once per engine per session; each test gets a copy (a file
copy on SQLite, `CREATE DATABASE ... TEMPLATE` on PostgreSQL), which takes milliseconds.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
from pathlib import Path

from autan.core.db import create_engine
from autan.core.migrate import upgrade

_counter = itertools.count()


async def migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


class SqliteDatabases:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.template = root / "template.db"
        asyncio.run(migrate(self.url_of(self.template)))

    @staticmethod
    def url_of(path: Path) -> str:
        return f"sqlite+aiosqlite:///{path}"

    def new(self) -> str:
        path = self.root / f"test-{next(_counter)}.db"
        shutil.copy(self.template, path)
        return self.url_of(path)

    def fresh(self) -> str:
        """An empty database, not migrated."""
        return self.url_of(self.root / f"empty-{next(_counter)}.db")


class PostgresDatabases:
    TEMPLATE = "autan_template"

    def __init__(self, server: object, socket_dir: str) -> None:
        self.server = server
        self.socket_dir = socket_dir
        # A throw-away server: fsync and full-page writes only matter when the machine itself
        # crashes (a killed or restarted PostgreSQL, as test_faults does, loses nothing: the
        # WAL is still written to the OS at each commit). Without them, a database copied file
        # by file from the template is ~2x faster to create than the default WAL-logged copy;
        # with fsync, FILE_COPY's checkpoints would make it ~5x slower instead.
        self._psql(
            "ALTER SYSTEM SET fsync = off; ALTER SYSTEM SET full_page_writes = off;"
            " SELECT pg_reload_conf();"
        )
        self._psql(f"DROP DATABASE IF EXISTS {self.TEMPLATE}")
        self._psql(f"CREATE DATABASE {self.TEMPLATE}")
        asyncio.run(migrate(self.url_of(self.TEMPLATE)))

    def _psql(self, sql: str) -> str:
        result: str = self.server.psql(sql)  # type: ignore[attr-defined]
        return result

    def url_of(self, name: str) -> str:
        return f"postgresql+asyncpg://postgres@/{name}?host={self.socket_dir}"

    def new(self) -> str:
        name = f"test_{next(_counter)}"
        self._psql(f"CREATE DATABASE {name} TEMPLATE {self.TEMPLATE} STRATEGY FILE_COPY")
        return self.url_of(name)

    def fresh(self) -> str:
        """An empty database, not migrated."""
        name = f"empty_{next(_counter)}"
        self._psql(f"CREATE DATABASE {name}")
        return self.url_of(name)
