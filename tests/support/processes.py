"""Real processes the tests talk to: simulated upstreams."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from autan.llm.config import ModelConfig, ModelsConfig, ReplicaConfig, dump_models_file


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


def cli_deployment(data_dir: Path, upstream: SimUpstream) -> tuple[dict[str, str], str]:
    """A migrated SQLite deployment in `data_dir` whose model `m` is served by `upstream`,
    with one user: the environment of its `autan` commands and that user's API key."""
    models_file = data_dir / "models.yaml"
    dump_models_file(
        ModelsConfig(models=[ModelConfig(id="m", replicas=[ReplicaConfig(url=upstream.api_url)])]),
        models_file,
    )
    env = {
        **os.environ,
        "AUTAN_DATA_DIR": str(data_dir),
        "AUTAN_MODELS_FILE": str(models_file),
        "AUTAN_QUOTAS__ENABLED": "false",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)

    def autan(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "autan", *args],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout

    autan("migrate")
    autan("users", "create", "a@b.fr")
    return env, autan("keys", "create", "a@b.fr").strip()


@contextlib.contextmanager
def autan_serve(env: dict[str, str], log: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """`autan serve ARGS` as a process group, stopped (SIGTERM) when the block ends."""
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "autan", "serve", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield server
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
