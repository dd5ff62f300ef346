"""Real faults for tests: a PostgreSQL of one's own to stop and start, frozen processes.

The session's PostgreSQL (`postgresql_databases`) is shared by every database test, so a
test that stops its server would break the others: `OwnPostgres` is a second pgserver
instance in a folder of the test's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pgserver
from pgserver import _commands

from tests.support.database import PostgresDatabases


class OwnPostgres:
    """A pgserver PostgreSQL 16 that a test may stop and start again (same data, same socket)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.server: Any = pgserver.get_server(root, cleanup_mode="stop")  # type: ignore[attr-defined]
        self.socket_dir = str(self.server.get_postmaster_info().socket_dir)
        self.databases = PostgresDatabases(self.server, self.socket_dir)

    def running(self) -> bool:
        info = self.server.get_postmaster_info()
        return info is not None and bool(info.is_running())

    def stop(self) -> None:
        """Stop the server at once (`immediate`: no checkpoint, every session cut), as a crash
        would; the next start replays the write-ahead log."""
        _commands.pg_ctl(  # type: ignore[attr-defined]
            ["-w", "-m", "immediate", "stop"],
            pgdata=self.server.pgdata,
            user=self.server.system_user,
            timeout=30,
        )

    def start(self) -> None:
        """Start it again on the same socket, waiting as long as crash recovery takes.

        pgserver's own start gives pg_ctl 10 s, which replaying the log after `immediate`
        exceeds on a busy machine.
        """
        _commands.pg_ctl(  # type: ignore[attr-defined]
            [
                "-w",
                "-t",
                "120",
                "-o",
                '-h ""',
                "-o",
                f"-k {self.socket_dir}",
                "-l",
                str(self.server.log),
                "start",
            ],  # fmt: skip
            pgdata=self.server.pgdata,
            user=self.server.system_user,
            timeout=130,
        )
        self.server.ensure_postgres_running()  # reads the new postmaster's details

    def close(self) -> None:
        """Stop it for good (it may already be stopped)."""
        if not self.running():
            with contextlib.suppress(Exception):
                self.start()  # pgserver's cleanup expects a running server to stop
        self.server.cleanup()

    @classmethod
    @contextlib.contextmanager
    def in_temporary_folder(cls) -> Iterator[OwnPostgres]:
        """A server in a folder of its own under the system's temporary directory.

        Not under pytest's: each pytest session makes `/tmp/pytest-of-<user>` private
        (0700) again, and PostgreSQL runs as another user (pgserver's, when tests run as
        root), so a restart there fails whenever another session started meanwhile.
        """
        root = Path(tempfile.mkdtemp(prefix="autan-pg-faults-"))
        root.chmod(0o755)
        postgres = cls(root / "pgdata")
        try:
            yield postgres
        finally:
            postgres.close()
            shutil.rmtree(root, ignore_errors=True)


class Freezer:
    """Freezes processes (SIGSTOP), as a swapped-out or wedged server would be, and thaws
    them all (SIGCONT) when its block ends, whatever happened."""

    def __init__(self) -> None:
        self.pids: list[int] = []

    def freeze(self, pid: int) -> None:
        os.kill(pid, signal.SIGSTOP)
        self.pids.append(pid)

    def thaw(self) -> None:
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self.pids.clear()

    def __enter__(self) -> Freezer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.thaw()


async def eventually(
    check: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1, what: str = ""
) -> Any:
    """Call `check` (sync or async) until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        assert time.monotonic() < deadline, f"not met in {timeout} s: {what or check}"
        await asyncio.sleep(interval)
