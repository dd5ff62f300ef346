"""A real `redis-server` process for tests, on a free loopback port, with nothing on disk.

The binary comes from Debian's `redis-server` package (`apt-get install redis-server`); the
test setup must install it. No Python Redis client is needed here: readiness is checked by
sending `PING` over a plain socket, so this helper works whatever client the code uses.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

_BINARY_HINT = "redis-server is not installed: `apt-get install redis-server` (Debian package)."


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _server_pid(port: int) -> int | None:
    """The process id of the Redis server answering on this port, or None if none answers.

    Checking the id (not just PING) tells our server from another one already on the port.
    """
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"INFO server\r\n")
            reply = b""
            while b"process_id:" not in reply or not reply.endswith(b"\r\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    return None
                reply += chunk
    except OSError:
        return None
    for line in reply.split(b"\r\n"):
        if line.startswith(b"process_id:"):
            return int(line.split(b":", 1)[1])
    return None


class RedisServer:
    """One `redis-server` child process: no persistence, loopback only, its own temp dir.

    `port` may be given to restart a server on the port a previous one used (outage tests).
    """

    def __init__(self, port: int | None = None) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise RuntimeError(_BINARY_HINT)
        self.binary = binary
        self.port = port or _free_port()
        self._directory: tempfile.TemporaryDirectory[str] | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The plain `redis://` URL (what `AUTAN_REDIS_URL` would hold)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and return once it answers PING."""
        self._directory = tempfile.TemporaryDirectory(prefix="autan-redis-")
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                self._directory.name,
                # No RDB snapshots and no AOF: tests want a clean, disk-free server.
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
                "--logfile",
                str(Path(self._directory.name) / "redis.log"),
            ],  # fmt: skip
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _server_pid(self.port) == self.process.pid:
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        error = self._stop_process()
        raise RuntimeError(f"redis-server did not start on port {self.port}: {error}")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s) and remove its directory."""
        self._stop_process()

    def _stop_process(self) -> str:
        error = ""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            if self.process.stderr is not None:
                error = self.process.stderr.read().decode(errors="replace").strip()
                self.process.stderr.close()
            self.process = None
        if self._directory is not None:
            log = Path(self._directory.name) / "redis.log"
            if log.exists():
                error = f"{error}\n{log.read_text(errors='replace')}".strip()
            self._directory.cleanup()
            self._directory = None
        return error

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
