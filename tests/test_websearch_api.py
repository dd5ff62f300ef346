"""`/v1/chat/completions` with `"web_search": true`: search results and URL citations in the
OpenAI shape, the passage in the prompt, 403 when the organisation forbids web search, an
answer without web results when the engine is dead."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select, update

from autan.accounts.models import AuditEvent, Organisation
from autan.core.db import create_engine, session_factory
from autan.llm.config import ModelConfig, ModelsConfig, ReplicaConfig
from tests.conftest import RunningAutan, make_settings, serve_autan
from tests.support.echo_upstream import echo_upstream
from tests.support.websearch import PAGES, WebFixture, web_fixture

QUESTION = "Combien coûte le timbre fiscal du passeport ?"


def echo_models(url: str) -> ModelsConfig:
    return ModelsConfig(models=[ModelConfig(id="echo", replicas=[ReplicaConfig(url=url)])])


@pytest.fixture
async def web() -> AsyncIterator[WebFixture]:
    async with web_fixture(PAGES) as running:
        yield running


@pytest.fixture
async def autan(tmp_path: Path, database_url: str, web: WebFixture) -> AsyncIterator[RunningAutan]:
    async with echo_upstream() as echo_url:
        models = ModelsConfig(
            models=[ModelConfig(id="echo", replicas=[ReplicaConfig(url=echo_url)])]
        )
        settings = make_settings(
            tmp_path,
            database_url,
            models,
            web={
                "searxng_url": web.engine_url,
                "allowed_hosts": web.site_host,
                "engine_timeout": 20,
                "fetch_timeout": 20,
                "read_budget": 40,
            },
        )
        async with serve_autan(settings) as running:
            yield running


async def ask(autan: RunningAutan, **extra: Any) -> Any:
    body = {"model": "echo", "messages": [{"role": "user", "content": QUESTION}], **extra}
    async with autan.client() as client:
        return await client.post("/v1/chat/completions", json=body)


async def set_web_search(autan: RunningAutan, allowed: bool) -> None:
    engine = create_engine(autan.settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            await session.execute(update(Organisation).values(web_search_allowed=allowed))
            await session.commit()
    finally:
        await engine.dispose()


async def audit_actions(autan: RunningAutan) -> list[tuple[str, dict[str, Any]]]:
    engine = create_engine(autan.settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            rows = await session.scalars(select(AuditEvent))
            return [(row.action, row.details) for row in rows]
    finally:
        await engine.dispose()


async def test_web_search_results_and_url_citations(autan: RunningAutan, web: WebFixture) -> None:
    response = await ask(autan, web_search=True)
    assert response.status_code == 200, response.text
    data = response.json()
    results = data["search_results"]
    assert results, data
    passport = web.url("/particuliers/passeport")
    assert results[0]["url"] == passport
    assert results[0]["title"] == "Passeport : première demande"
    assert "86 euros" in results[0]["content"]
    # The echo model answers with the prompt it got: the passage and its number are in it.
    echoed = orjson.loads(data["choices"][0]["message"]["content"])["body"]
    prompt = echoed["messages"][-1]["content"]
    assert "[1] Passeport : première demande" in prompt and "86 euros" in prompt
    assert "web_search" not in echoed  # the extension is not forwarded to the model
    annotations = data["choices"][0]["message"]["annotations"]
    first = annotations[0]
    assert first["type"] == "url_citation"
    citation = first["url_citation"]
    assert citation["url"] == passport
    content = data["choices"][0]["message"]["content"]
    assert content[citation["start_index"] : citation["end_index"]] == "[1]"
    # The audit log says that a search happened, not what was searched.
    actions = await audit_actions(autan)
    searches = [details for action, details in actions if action == "web_search"]
    assert searches and "passeport" not in orjson.dumps(searches).decode().lower()


async def test_web_search_is_refused_when_the_organisation_forbids_it(
    autan: RunningAutan, web: WebFixture
) -> None:
    await set_web_search(autan, False)
    response = await ask(autan, web_search=True)
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "web_search_forbidden"
    assert web.queries == []  # nothing went to the engine
    # Without web search the same request is answered.
    assert (await ask(autan)).status_code == 200


async def test_a_dead_engine_still_gets_an_answer(autan: RunningAutan, web: WebFixture) -> None:
    web.mode = "dead"
    response = await ask(autan, web_search=True)
    assert response.status_code == 200, response.text
    assert response.json()["search_results"] == []


async def test_web_search_off_without_an_engine(tmp_path: Path, database_url: str) -> None:
    async with echo_upstream() as echo_url:
        models = ModelsConfig(
            models=[ModelConfig(id="echo", replicas=[ReplicaConfig(url=echo_url)])]
        )
        async with serve_autan(make_settings(tmp_path, database_url, models)) as autan:
            response = await ask(autan, web_search=True)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "web_search_off"


async def test_openai_web_search_options_turn_web_search_on(
    autan: RunningAutan, web: WebFixture
) -> None:
    response = await ask(autan, web_search_options={"search_context_size": "low"})
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["search_results"][0]["url"] == web.url("/particuliers/passeport")
    assert len(data["search_results"]) <= 2  # "low": two pages at most
    echoed = orjson.loads(data["choices"][0]["message"]["content"])["body"]
    assert "web_search_options" not in echoed  # not forwarded to the model
    assert data["choices"][0]["message"]["annotations"][0]["type"] == "url_citation"
    bad = await ask(autan, web_search_options={"search_context_size": "huge"})
    assert bad.status_code == 400, bad.text


async def test_web_search_options_refused_when_the_organisation_forbids_it(
    autan: RunningAutan, web: WebFixture
) -> None:
    await set_web_search(autan, False)
    refused = await ask(autan, web_search_options={})
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "web_search_forbidden"


async def test_streamed_answer_carries_url_citations_before_done(
    autan: RunningAutan, web: WebFixture
) -> None:
    response = await ask(autan, web_search_options={}, stream=True)
    assert response.status_code == 200, response.text
    events = [line[6:] for line in response.text.split("\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    first = orjson.loads(events[0])
    assert first["object"] == "search_results"
    assert first["data"][0]["url"] == web.url("/particuliers/passeport")
    chunks = [orjson.loads(e) for e in events[1:-1]]
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    annotations = [a for c in chunks for a in c["choices"][0]["delta"].get("annotations") or ()]
    assert annotations, chunks
    for annotation in annotations:
        citation = annotation["url_citation"]
        assert annotation["type"] == "url_citation"
        assert content[citation["start_index"] : citation["end_index"]].startswith("[")
        assert citation["url"].startswith(web.url("/"))
