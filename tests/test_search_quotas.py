"""Web searches are counted apart from model requests, per person, per minute and per day:
set by the platform, lowered by an organisation, refused with 429 and Retry-After in the
API (OpenAI's error shape) and in plain words in the chat (the question kept), counted in
process memory and in Redis alike, shown in `/v1/me/info`; the audit log records that a
search happened, never what was searched."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select, update

from autan.accounts.models import AuditEvent, Organisation
from autan.chat.models import Message
from autan.core.db import create_engine, session_factory
from autan.llm.config import ModelConfig, ModelsConfig, ReplicaConfig
from autan.quotas import QuotaExceeded, QuotaLimiter, QuotaRule, QuotaSettings
from tests.conftest import RunningAutan, make_settings, serve_autan
from tests.support.echo_upstream import echo_upstream
from tests.support.redis_fixtures import redis_url
from tests.support.web import Site, hidden, run_site
from tests.support.websearch import PAGES, WebFixture, web_fixture

__all__ = ["redis_url"]  # a fixture: imported so that pytest finds it in this module

QUESTION = "Combien coûte le timbre fiscal du passeport ?"
# Model requests are not limited here: only searches are, so a refusal is the search's.
QUOTAS: dict[str, object] = {"enabled": True, "requests_per_minute": 0, "searches_per_minute": 2}


@pytest.fixture(params=("memory", "redis"))
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[QuotaLimiter]:
    url = None if request.param == "memory" else request.getfixturevalue("redis_url")
    quota_limiter = QuotaLimiter(url)
    try:
        yield quota_limiter
    finally:
        await quota_limiter.close()


async def test_searches_are_counted_per_minute_and_per_day(limiter: QuotaLimiter) -> None:
    user = f"user-{uuid.uuid4().hex}"
    await limiter.check_search(user, 2, 3)
    await limiter.check_search(user, 2, 3)
    with pytest.raises(QuotaExceeded) as minute:
        await limiter.check_search(user, 2, 3)
    assert minute.value.code == "quota_searches_per_minute"
    assert 1 <= minute.value.retry_after <= 60
    # A refused search is not counted in the day.
    assert await limiter.searches_used(user, 3) == 2
    await limiter.check_search(user, 10, 3)
    with pytest.raises(QuotaExceeded) as day:
        await limiter.check_search(user, 10, 3)
    assert day.value.code == "quota_searches_per_day" and day.value.retry_after > 60
    assert "3 web searches" in day.value.message
    # Model requests are counted apart: the searches took none of them.
    for _ in range(2):
        await limiter.check_request(user, QuotaRule(requests_per_minute=2))
    # No limit: nothing is counted or refused.
    for _ in range(5):
        await limiter.check_search(f"user-{uuid.uuid4().hex}", None, None)


def test_organisations_may_only_lower_the_platforms_search_limits() -> None:
    platform = QuotaSettings(searches_per_minute=5, searches_per_day=100)
    lowered = {"searches_per_minute": 2, "searches_per_day": 500, "max_pages": 3}
    assert platform.search_limits(lowered) == (2, 100)
    assert platform.search_limits(None) == (5, 100)
    unlimited = QuotaSettings(searches_per_minute=0, searches_per_day="")
    assert unlimited.search_limits({"searches_per_day": 7}) == (None, 7)
    assert QuotaSettings(enabled=False).search_limits(lowered) == (None, None)


@pytest.fixture
async def web() -> AsyncIterator[WebFixture]:
    async with web_fixture(PAGES) as running:
        yield running


def web_settings(web: WebFixture) -> dict[str, object]:
    return {
        "searxng_url": web.engine_url,
        "allowed_hosts": web.site_host,
        "engine_timeout": 20,
        "fetch_timeout": 10,
        "read_budget": 30,
    }


@pytest.fixture(params=("memory", "redis"))
async def autan(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: str, web: WebFixture
) -> AsyncIterator[RunningAutan]:
    async with echo_upstream() as echo_url:
        models = ModelsConfig(
            models=[ModelConfig(id="echo", replicas=[ReplicaConfig(url=echo_url)])]
        )
        settings = make_settings(tmp_path, database_url, models, QUOTAS, web=web_settings(web))
        if request.param == "redis":
            settings.redis_url = request.getfixturevalue("redis_url")
        async with serve_autan(settings) as running:
            yield running


async def org_limits(url: str, limits: dict[str, int]) -> None:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            await session.execute(update(Organisation).values(research_limits=limits))
            await session.commit()
    finally:
        await engine.dispose()


async def web_search_events(url: str) -> list[dict[str, Any]]:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            rows = await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "web_search")
            )
            return [row.details for row in rows]
    finally:
        await engine.dispose()


async def test_the_api_refuses_a_search_over_quota_with_retry_after(
    autan: RunningAutan, web: WebFixture
) -> None:
    url = autan.settings.resolved_database_url
    await org_limits(url, {"searches_per_day": 5})
    searched = {
        "model": "echo",
        "messages": [{"role": "user", "content": QUESTION}],
        "web_search_options": {},
    }
    plain = {"model": "echo", "messages": [{"role": "user", "content": "Bonjour"}]}
    async with autan.client() as client:
        for _ in range(2):
            ok = await client.post("/v1/chat/completions", json=searched)
            assert ok.status_code == 200, ok.text
        refused = await client.post("/v1/chat/completions", json=searched)
        assert refused.status_code == 429, refused.text
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        error = refused.json()["error"]
        assert error["type"] == "rate_limit_error"
        assert error["code"] == "quota_searches_per_minute"
        assert "2 web searches per minute" in error["message"]
        # Model requests are counted apart: a question without search still goes through.
        assert (await client.post("/v1/chat/completions", json=plain)).status_code == 200
        info = (await client.get("/v1/me/info")).json()
    assert info["web_limits"] == {
        "searches_per_minute": 2,
        "searches_per_day": 5,
        "searches_today": 2,
        "research_runs_per_day": 20,
        "research_runs_today": 0,
    }
    # The audit log says that two searches happened, and nothing of what was searched.
    assert await web_search_events(url) == [{}, {}]
    assert len(web.queries) >= 2


@pytest.fixture
async def site(tmp_path: Path, database_url: str, web: WebFixture) -> AsyncIterator[Site]:
    async with echo_upstream() as echo_url:
        models = ModelsConfig(
            models=[ModelConfig(id="echo", replicas=[ReplicaConfig(url=echo_url)])]
        )
        quotas = {**QUOTAS, "searches_per_minute": 1}
        async with run_site(tmp_path, database_url, models, quotas, web=web_settings(web)) as site:
            yield site


async def count_messages(site: Site) -> int:
    engine = create_engine(site.autan.settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            return int(await session.scalar(select(func.count()).select_from(Message)) or 0)
    finally:
        await engine.dispose()


async def test_the_chat_refuses_a_search_over_quota_in_plain_words_before_storing(
    site: Site,
) -> None:
    async with site.signed_in("member_a") as browser:
        csrf = hidden((await browser.get("/")).text, "csrf_token")
        headers = {"X-CSRF-Token": csrf, "Content-Type": "application/json"}
        body = {"action": "send", "content": QUESTION, "model": "echo", "web_search": True}
        first = await browser.post("/chat/turn", content=orjson.dumps(body), headers=headers)
        assert first.status_code == 200 and b"event: done" in first.content
        stored = await count_messages(site)
        second = await browser.post("/chat/turn", content=orjson.dumps(body), headers=headers)
        assert second.status_code == 429
        assert 1 <= int(second.headers["Retry-After"]) <= 60
        message = second.json()["error"]["message"]
        assert message.startswith(
            "Vous avez atteint votre limite de 1 recherche web par minute. "
            "Vous pourrez chercher de nouveau sur le web dans "
        )
        # Refused before anything was stored: the page puts the question back.
        assert await count_messages(site) == stored
        # Without the switch, the same person may still ask.
        plain = {**body, "web_search": False}
        third = await browser.post("/chat/turn", content=orjson.dumps(plain), headers=headers)
        assert third.status_code == 200
