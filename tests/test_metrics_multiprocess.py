"""`/metrics` of `autan serve --workers 2` counts the requests of both server processes."""

from __future__ import annotations

import os
import re
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
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    # Left by an earlier run: `autan serve` must start from an empty folder.
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_1.db").write_bytes(b"stale")
    run = {"env": env, "check": True, "capture_output": True, "text": True}
    subprocess.run([sys.executable, "-m", "autan", "migrate"], **run)  # type: ignore[call-overload]
    subprocess.run([sys.executable, "-m", "autan", "users", "create", "a@b.fr"], **run)  # type: ignore[call-overload]
    key = subprocess.run([sys.executable, "-m", "autan", "keys", "create", "a@b.fr"], **run).stdout  # type: ignore[call-overload]
    port = free_port()
    with (tmp_path / "serve.log").open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "autan", "serve", "--port", str(port), "--workers", "2",
             "--no-migrate", "--no-worker"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key.strip()}"}
    try:
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
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
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
