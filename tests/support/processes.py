"""Real processes the tests talk to: simulated upstreams."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx


@dataclass
class SimUpstream:
    """A running `autan.devtools.upstream_sim` process."""

    process: subprocess.Popen[str]
    url: str

    @property
    def api_url(self) -> str:
        return f"{self.url}/v1"

    def stats(self) -> dict[str, int]:
        data: dict[str, int] = httpx.get(f"{self.url}/_sim/stats", timeout=5).json()
        return data

    def reset(self) -> None:
        httpx.post(f"{self.url}/_sim/reset", timeout=5)

    def kill(self) -> None:
        """Kill the process at once, as a crash would."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def stop(self) -> None:
        if self.process.stdout is not None:
            self.process.stdout.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_sim(*args: str, port: int = 0) -> SimUpstream:
    """Start a simulated upstream and wait until it listens."""
    process = subprocess.Popen(
        [sys.executable, "-m", "autan.devtools.upstream_sim", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if "listening on" in line:
            return SimUpstream(process, line.rsplit(" ", 1)[1].strip())
        if not line and process.poll() is not None:
            break
    process.kill()
    raise RuntimeError("the simulated upstream did not start")
