"""`autan serve --workers 2`: both workers answer, and without Nagle's 40 ms stall."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from autan.llm.config import ModelConfig, ModelsConfig, ReplicaConfig, dump_models_file
from tests.conftest import free_port
from tests.support.processes import SimUpstream, start_sim

pytestmark = pytest.mark.slow
CHAT = {"model": "m", "messages": [{"role": "user", "content": "Bonjour"}]}


@pytest.fixture
def sim() -> Iterator[SimUpstream]:
    upstream = start_sim("--ttft-ms", "0", "--tokens-per-s", "0", "--tokens", "3")
    yield upstream
    upstream.stop()


def test_two_workers_answer_without_delay(sim: SimUpstream, tmp_path: Path) -> None:
    models_file = tmp_path / "models.yaml"
    dump_models_file(
        ModelsConfig(models=[ModelConfig(id="m", replicas=[ReplicaConfig(url=sim.api_url)])]),
        models_file,
    )
    env = {
        **os.environ,
        "AUTAN_DATA_DIR": str(tmp_path),
        "AUTAN_MODELS_FILE": str(models_file),
        "AUTAN_QUOTAS__ENABLED": "false",
    }
    run = {"env": env, "check": True, "capture_output": True, "text": True}
    subprocess.run([sys.executable, "-m", "autan", "migrate"], **run)  # type: ignore[call-overload]
    subprocess.run([sys.executable, "-m", "autan", "users", "create", "a@b.fr"], **run)  # type: ignore[call-overload]
    key = subprocess.run([sys.executable, "-m", "autan", "keys", "create", "a@b.fr"], **run).stdout  # type: ignore[call-overload]
    port = free_port()
    with (tmp_path / "serve.log").open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "autan", "serve", "--port", str(port), "--workers", "2",
             "--no-migrate"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert time.monotonic() < deadline and server.poll() is None, "did not start"
            try:
                if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        headers = {"Authorization": f"Bearer {key.strip()}"}
        with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
            client.post("/v1/chat/completions", json=CHAT)
            durations = []
            for _ in range(20):
                started = time.perf_counter()
                assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
                durations.append(time.perf_counter() - started)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    # With Nagle's algorithm on the workers' sockets every answer waited ~40 ms for the
    # client's delayed ACK; without it, an answer from the simulator takes a few ms. Nagle
    # delays every answer, so the fastest quarter tells the two apart even when other jobs
    # load the machine and slow some of the 20.
    assert sorted(durations)[len(durations) // 4] < 0.025, durations
