"""The OpenAI-compatible API through a real server, on both database engines."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import orjson
import pytest

from autan.llm.config import ModelConfig, ModelsConfig, ModelType, ReplicaConfig
from tests.conftest import RunningAutan, make_settings, serve_autan
from tests.support.echo_upstream import echo_upstream
from tests.support.processes import SimUpstream, start_sim
from tests.support.usage import usage_rows

CHAT = {"model": "sim-chat", "messages": [{"role": "user", "content": "Bonjour"}]}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimUpstream]:
    upstream = start_sim("--ttft-ms", "0", "--tokens-per-s", "0", "--tokens", "5")
    yield upstream
    upstream.stop()


@pytest.fixture
async def autan(sim: SimUpstream, tmp_path: Path, database_url: str) -> AsyncIterator[RunningAutan]:
    async with echo_upstream() as echo_url:
        models = ModelsConfig(
            models=[
                ModelConfig(
                    id="sim-chat",
                    description="Petit modèle, rapide",
                    upstream_model="sim-model",
                    replicas=[ReplicaConfig(url=sim.api_url)],
                ),
                ModelConfig(
                    id="sim-embed",
                    type=ModelType.EMBEDDING,
                    replicas=[ReplicaConfig(url=sim.api_url)],
                ),
                ModelConfig(
                    id="echo",
                    upstream_model="echo-upstream",
                    replicas=[ReplicaConfig(url=echo_url, api_key="upstream-secret")],
                ),
            ]
        )
        async with serve_autan(make_settings(tmp_path, database_url, models)) as running:
            yield running


def sse_events(text: str) -> list[str]:
    return [e.removeprefix("data: ") for e in text.split("\n\n") if e.startswith("data: ")]


async def test_models_are_listed_with_their_description(autan: RunningAutan) -> None:
    async with autan.client() as client:
        listing = (await client.get("/v1/models")).json()
        one = (await client.get("/v1/models/sim-chat")).json()
    assert listing["object"] == "list"
    assert [m["id"] for m in listing["data"]] == ["sim-chat", "sim-embed", "echo"]
    assert one["description"] == "Petit modèle, rapide" and one["type"] == "chat"


async def test_non_streamed_completion_is_accounted(autan: RunningAutan) -> None:
    async with autan.client() as client:
        response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 200
    answer = response.json()
    assert answer["object"] == "chat.completion"
    assert answer["model"] == "sim-chat", "the public model id, not the replica's"
    assert answer["choices"][0]["message"]["content"]
    assert answer["usage"]["completion_tokens"] == 5
    (row,) = await usage_rows(autan.settings.resolved_database_url, 1)
    assert (row.endpoint, row.model, row.status, row.stream) == ("chat", "sim-chat", 200, False)
    assert row.completion_tokens == 5 and row.prompt_tokens >= 1
    assert row.replica and row.duration_ms > 0 and row.api_key_id and row.user_id


async def test_stream_without_usage_option_hides_the_usage_chunk(autan: RunningAutan) -> None:
    async with autan.client() as client:
        response = await client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert events[-1] == "[DONE]"
    chunks = [orjson.loads(e) for e in events[:-1]]
    assert all(c["model"] == "sim-chat" and "usage" not in c for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text.strip()
    (row,) = await usage_rows(autan.settings.resolved_database_url, 1)
    assert row.stream and row.status == 200
    assert row.completion_tokens == 5, "usage is asked upstream even when the client does not"
    assert row.ttft_ms is not None and row.ttft_ms <= row.duration_ms


async def test_stream_with_include_usage_ends_with_usage(autan: RunningAutan) -> None:
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    async with autan.client() as client:
        response = await client.post("/v1/chat/completions", json=body)
    *chunks, done = sse_events(response.text)
    assert done == "[DONE]"
    last = orjson.loads(chunks[-1])
    assert last["choices"] == [] and last["usage"]["completion_tokens"] == 5


async def test_embeddings_of_a_string_and_a_list(autan: RunningAutan) -> None:
    async with autan.client() as client:
        one = (
            await client.post("/v1/embeddings", json={"model": "sim-embed", "input": "a"})
        ).json()
        many = await client.post("/v1/embeddings", json={"model": "sim-embed", "input": ["a", "b"]})
    assert len(one["data"][0]["embedding"]) == 384
    assert [d["index"] for d in many.json()["data"]] == [0, 1]
    rows = await usage_rows(autan.settings.resolved_database_url, 2)
    assert {r.endpoint for r in rows} == {"embeddings"}


async def test_openai_fields_are_passed_through(autan: RunningAutan) -> None:
    body = {
        "model": "echo",
        "messages": [{"role": "user", "content": "Quel temps fait-il ?"}],
        "tools": [{"type": "function", "function": {"name": "meteo", "parameters": {}}}],
        "tool_choice": "auto",
        "response_format": {"type": "json_object"},
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["\n\n"],
        "seed": 42,
        "max_tokens": 12,
        "vendor_extension": {"top_k": 5},
    }
    async with autan.client() as client:
        answer = (await client.post("/v1/chat/completions", json=body)).json()
    seen = orjson.loads(answer["choices"][0]["message"]["content"])
    forwarded = seen["body"]
    assert forwarded["model"] == "echo-upstream"
    for field in ("tools", "tool_choice", "response_format", "stop", "seed", "vendor_extension"):
        assert forwarded[field] == body[field], field
    assert seen["authorization"] == "Bearer upstream-secret", "the replica's key, not the user's"
    assert answer["model"] == "echo"


async def test_an_upstream_refusal_is_passed_on(autan: RunningAutan) -> None:
    async with autan.client() as client:
        response = await client.post(
            "/v1/chat/completions", json={**CHAT, "model": "echo", "echo_status": 400}
        )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "refused by upstream"


ERRORS = [
    ({"model": "nope", "messages": CHAT["messages"]}, 404, "model_not_found", "model"),
    ({"model": "sim-embed", "messages": CHAT["messages"]}, 400, "model_not_supported", "model"),
    ({"model": "sim-chat"}, 400, "invalid_request", "messages"),
    ({"model": "sim-chat", "messages": []}, 400, "invalid_request", "messages"),
    ({**CHAT, "temperature": "hot"}, 400, "invalid_request", "temperature"),
    ({**CHAT, "temperature": 7}, 400, "invalid_request", "temperature"),
    (
        {**CHAT, "messages": [{"role": "wizard", "content": "x"}]},
        400,
        "invalid_request",
        "messages.0.role",
    ),
]


@pytest.mark.parametrize(("body", "status", "code", "param"), ERRORS)
async def test_bad_requests_get_openai_errors(
    autan: RunningAutan, body: dict[str, object], status: int, code: str, param: str
) -> None:
    async with autan.client() as client:
        response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code and error["param"] == param and error["message"]


async def test_broken_json_and_oversize_bodies(autan: RunningAutan) -> None:
    async with autan.client() as client:
        broken = await client.post(
            "/v1/chat/completions",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
        huge = await client.post("/v1/chat/completions", content=b"x" * (9 * 1024 * 1024))
        empty = await client.post("/v1/embeddings", json={"model": "sim-embed", "input": []})
        blank = await client.post("/v1/embeddings", json={"model": "sim-embed", "input": ["a", ""]})
    assert broken.status_code == 400 and broken.json()["error"]["type"] == "invalid_request_error"
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "request_too_large"
    assert empty.status_code == 400 and empty.json()["error"]["param"] == "input"
    assert blank.status_code == 400


@pytest.mark.parametrize("header", [None, "Bearer sk-autan-wrong", "Basic Zm9vOmJhcg==", "Bearer"])
async def test_missing_or_wrong_keys_get_401(autan: RunningAutan, header: str | None) -> None:
    async with autan.client() as client:
        headers = {"Authorization": header} if header else {}
        client.headers.pop("Authorization")
        response = await client.post("/v1/chat/completions", json=CHAT, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["type"] == "authentication_error"
