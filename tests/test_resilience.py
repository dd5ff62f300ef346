"""Failover between real upstream processes, cancellation on disconnect, refusing overload."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from autan.llm.config import ModelConfig, ModelsConfig, ReplicaConfig
from tests.conftest import RunningAutan, make_settings, serve_autan
from tests.support.faults import eventually
from tests.support.processes import SimUpstream, start_sim
from tests.support.usage import usage_rows

# Upstreams killed, revived and paced in child processes: the full lane only.
pytestmark = pytest.mark.slow

MESSAGES = [{"role": "user", "content": "Bonjour"}]


def chat_model(*sims: SimUpstream, cap: int = 64) -> ModelsConfig:
    replicas = [ReplicaConfig(url=s.api_url, name=f"sim-{i}") for i, s in enumerate(sims)]
    return ModelsConfig(models=[ModelConfig(id="m", max_concurrent=cap, replicas=replicas)])


@pytest.fixture
def two_sims() -> Iterator[tuple[SimUpstream, SimUpstream]]:
    # Paced answers (10 tokens at 50/s = 0.2 s) so that requests are in flight at a kill.
    args = ("--ttft-ms", "20", "--tokens-per-s", "50", "--tokens", "10")
    first, second = start_sim(*args), start_sim(*args)
    yield first, second
    first.stop()
    second.stop()


async def replica_states(client: httpx.AsyncClient) -> dict[str, str]:
    health = (await client.get("/health")).json()
    return {r["name"]: r["state"] for r in health["models"]["m"]["replicas"]}


async def test_failover_when_a_replica_is_killed_mid_run(
    two_sims: tuple[SimUpstream, SimUpstream], tmp_path: Path, database_url: str
) -> None:
    first, second = two_sims
    settings = make_settings(tmp_path, database_url, chat_model(first, second))
    async with serve_autan(settings) as autan, autan.client() as client:

        async def ask(i: int) -> int:
            await asyncio.sleep(i * 0.02)
            response = await client.post(
                "/v1/chat/completions", json={"model": "m", "messages": MESSAGES}
            )
            return response.status_code

        requests = [asyncio.create_task(ask(i)) for i in range(60)]
        await asyncio.sleep(0.4)
        first.kill()  # requests in flight on it fail before their answer: retried on the other
        statuses = await asyncio.gather(*requests)
        assert statuses == [200] * 60
        assert await replica_states(client) == {"sim-0": "down", "sim-1": "up"}

        # The replica comes back on the same port: probes bring it back in.
        port = first.url.rsplit(":", 1)[1]
        revived = start_sim("--ttft-ms", "0", "--tokens-per-s", "0", "--port", port)
        try:
            deadline = time.monotonic() + 5
            while (await replica_states(client))["sim-0"] != "up":
                assert time.monotonic() < deadline, "the revived replica was not probed back in"
                await asyncio.sleep(0.1)
            await asyncio.gather(*(ask(0) for _ in range(10)))
            assert revived.stats()["completed"] > 0, "traffic goes to the revived replica again"
        finally:
            revived.stop()
    rows = await usage_rows(database_url, 70)
    assert [r.status for r in rows] == [200] * 70


async def test_a_stream_broken_mid_answer_ends_with_an_error_event(
    two_sims: tuple[SimUpstream, SimUpstream], tmp_path: Path, database_url: str
) -> None:
    first, _ = two_sims
    slow = {"sim": {"tokens_per_s": 10, "tokens": 100}}
    settings = make_settings(tmp_path, database_url, chat_model(first))
    async with serve_autan(settings) as autan, autan.client() as client:
        body = {"model": "m", "messages": MESSAGES, "stream": True, **slow}
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            assert response.status_code == 200
            received = b""
            async for chunk in response.aiter_bytes():
                received += chunk
                if received.count(b"data: ") == 3:
                    first.kill()
        assert b'"code":"upstream_stream_broken"' in received
        assert b"data: [DONE]" not in received
    (row,) = await usage_rows(database_url, 1)
    assert row.status == 502 and row.error_code == "upstream_stream_broken"


@pytest.fixture
async def slow_autan(
    tmp_path: Path, database_url: str
) -> AsyncIterator[tuple[RunningAutan, SimUpstream]]:
    sim = start_sim("--ttft-ms", "0", "--tokens-per-s", "5", "--tokens", "100")
    try:
        async with serve_autan(make_settings(tmp_path, database_url, chat_model(sim))) as autan:
            yield autan, sim
    finally:
        sim.stop()


async def test_a_client_leaving_a_stream_cancels_the_upstream(
    slow_autan: tuple[RunningAutan, SimUpstream],
) -> None:
    autan, sim = slow_autan
    body = {"model": "m", "messages": MESSAGES, "stream": True}
    async with (
        autan.client() as client,
        client.stream("POST", "/v1/chat/completions", json=body) as response,
    ):
        async for _chunk in response.aiter_bytes():
            break  # one chunk, then the client goes away
    await eventually(lambda: sim.stats()["cancelled"] == 1)
    assert sim.stats()["in_flight"] == 0
    async with autan.client() as client:
        replicas = (await client.get("/health")).json()["models"]["m"]["replicas"]
    assert replicas[0]["in_flight"] == 0, "the slot is given back"
    (row,) = await usage_rows(autan.settings.resolved_database_url, 1)
    assert row.status == 499


async def test_a_client_leaving_a_non_streamed_request_cancels_the_upstream(
    slow_autan: tuple[RunningAutan, SimUpstream],
) -> None:
    autan, sim = slow_autan
    body = {"model": "m", "messages": MESSAGES, "sim": {"ttft_ms": 10_000}}
    async with autan.client() as client:
        request = asyncio.create_task(client.post("/v1/chat/completions", json=body))
        # The client leaves once the call has reached the upstream, not after a fixed time:
        # on a busy machine a fixed time may end before Autan has even called it.
        await eventually(lambda: sim.stats()["started"] == 1)
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
    await eventually(lambda: sim.stats()["cancelled"] == 1)
    (row,) = await usage_rows(autan.settings.resolved_database_url, 1)
    assert row.status == 499


async def test_beyond_capacity_requests_are_refused_fast_with_retry_after(
    tmp_path: Path, database_url: str
) -> None:
    sim = start_sim("--ttft-ms", "2000", "--tokens-per-s", "0", "--tokens", "1")
    settings = make_settings(
        tmp_path, database_url, chat_model(sim, cap=2), queue_size=2, queue_timeout=0.3
    )
    try:
        async with serve_autan(settings) as autan, autan.client() as client:
            finished: list[tuple[int, str | None]] = []  # in the order the answers arrive

            async def ask() -> None:
                response = await client.post(
                    "/v1/chat/completions", json={"model": "m", "messages": MESSAGES}
                )
                finished.append((response.status_code, response.headers.get("retry-after")))

            await asyncio.gather(*(ask() for _ in range(12)))
    finally:
        sim.stop()
    # "Fast" without a stopwatch: every refusal arrives before the first served answer, so
    # none waited for a slot to free up (the upstream holds each slot for 2 s).
    assert [status for status, _ in finished] == [503] * 10 + [200] * 2, finished
    assert all(retry_after == "2" for status, retry_after in finished if status == 503)


async def test_the_process_refuses_requests_beyond_its_connection_limit(
    tmp_path: Path, database_url: str
) -> None:
    sim = start_sim("--ttft-ms", "1000", "--tokens-per-s", "0", "--tokens", "1")
    settings = make_settings(tmp_path, database_url, chat_model(sim), max_connections=3)
    try:
        async with serve_autan(settings) as autan, autan.client() as client:
            held = [
                asyncio.create_task(
                    client.post("/v1/chat/completions", json={"model": "m", "messages": MESSAGES})
                )
                for _ in range(3)
            ]
            await eventually(lambda: sim.stats()["in_flight"] == 3)
            refused = await client.get("/v1/models")
            # Refused at once, not after a held request freed a connection.
            assert not any(request.done() for request in held)
            health = await client.get("/health")  # probes always get through
            assert [r.status_code for r in await asyncio.gather(*held)] == [200] * 3
    finally:
        sim.stop()
    assert refused.status_code == 503 and refused.headers["retry-after"] == "2"
    assert refused.json()["error"]["code"] == "server_overloaded"
    assert health.status_code == 200
