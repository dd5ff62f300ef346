"""`autan serve --workers 2`: both workers answer, and without Nagle's 40 ms stall."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.support.processes import SimUpstream, autan_serve, cli_deployment, start_sim

pytestmark = pytest.mark.slow
CHAT = {"model": "m", "messages": [{"role": "user", "content": "Bonjour"}]}


@pytest.fixture
def sim() -> Iterator[SimUpstream]:
    upstream = start_sim("--ttft-ms", "0", "--tokens-per-s", "0", "--tokens", "3")
    yield upstream
    upstream.stop()


def test_two_workers_answer_without_delay(sim: SimUpstream, tmp_path: Path) -> None:
    env, key = cli_deployment(tmp_path, sim)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    serve = ("--port", str(port), "--workers", "2", "--no-migrate")
    with autan_serve(env, tmp_path / "serve.log", *serve) as server:
        deadline = time.monotonic() + 90
        while True:
            assert time.monotonic() < deadline and server.poll() is None, "did not start"
            try:
                if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
            client.post("/v1/chat/completions", json=CHAT)
            durations = []
            for _ in range(20):
                started = time.perf_counter()
                assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
                durations.append(time.perf_counter() - started)
    # With Nagle's algorithm on the workers' sockets every answer waited ~40 ms for the
    # client's delayed ACK; without it, an answer from the simulator takes a few ms. Nagle
    # delays every answer, so the fastest quarter tells the two apart even when other jobs
    # load the machine and slow some of the 20.
    assert sorted(durations)[len(durations) // 4] < 0.025, durations
