"""`/metrics` of `autan serve --workers 2` counts the requests of both server processes."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.support.processes import SimUpstream, autan_serve, cli_deployment, start_sim

pytestmark = pytest.mark.slow
CHAT = {"model": "m", "messages": [{"role": "user", "content": "Bonjour"}]}
REQUESTS = 30
COUNTER = re.compile(
    r'^autan_requests_total\{endpoint="[^"]*",model="m",status="200"\} (\S+)$', re.MULTILINE
)
IN_FLIGHT = re.compile(r'^autan_replica_in_flight\{model="m",replica="[^"]*"\} (\S+)$', re.M)


@pytest.fixture
def sim() -> Iterator[SimUpstream]:
    upstream = start_sim("--ttft-ms", "0", "--tokens-per-s", "0", "--tokens", "3")
    yield upstream
    upstream.stop()


def test_metrics_sum_every_server_process(sim: SimUpstream, tmp_path: Path) -> None:
    env, key = cli_deployment(tmp_path, sim)
    # Left by an earlier run: `autan serve` must start from an empty folder.
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_1.db").write_bytes(b"stale")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    serve = ("--port", str(port), "--workers", "2", "--no-migrate", "--no-worker")
    with autan_serve(env, tmp_path / "serve.log", *serve) as server:
        deadline = time.monotonic() + 90
        pids: set[str] = set()
        # Both processes up: each answers with its own pid once it is ready.
        while len(pids) < 2:
            assert time.monotonic() < deadline and server.poll() is None, "did not start"
            try:
                # A new connection each time: the kernel hands it to either process.
                answer = httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=headers)
                assert answer.status_code == 200
            except httpx.TransportError:
                time.sleep(0.2)
                continue
            pids = {p.name.split("_")[-1] for p in (tmp_path / "metrics").glob("counter_*.db")}
        sent = 0
        for _ in range(REQUESTS):
            response = httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=headers)
            assert response.status_code == 200
            sent += 1
        served = {p.name.split("_")[-1] for p in (tmp_path / "metrics").glob("counter_*.db")}
        scrapes = []
        for _ in range(10):
            scrape = httpx.get(f"{url}/metrics")
            assert scrape.status_code == 200
            scrapes.append(scrape.text)
    assert "1.db" not in served  # the stale file was cleared
    # Every request of either process counted in every scrape, whichever process answers.
    warmup = None
    for text in scrapes:
        counts = [float(v) for v in COUNTER.findall(text)]
        total = sum(counts)
        warmup = warmup if warmup is not None else total - sent
        assert total == warmup + sent, text
        # The replica gauges of both processes, summed (nothing in flight now).
        assert [float(v) for v in IN_FLIGHT.findall(text)] == [0.0]
    assert warmup is not None and warmup >= 2
    assert len(served) == 2  # both processes served requests: one alone would show less
