"""An organisation's domain lists hold for search results, pasted links, redirects and deep
research, against the loopback SearXNG-speaking engine and site; the member is told, in the
chat, that a source was refused because of the organisation's domains."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import update

from autan.accounts.models import Organisation
from autan.core.db import create_engine, session_factory
from autan.llm.config import ModelConfig, ModelsConfig, ReplicaConfig
from tests.support.echo_upstream import echo_upstream
from tests.support.web import Site, hidden, parse_events, run_site
from tests.support.websearch import PAGES, WebFixture, web_fixture

QUESTION = "Combien coûte le timbre fiscal du passeport ?"
REFUSED_WORDS = "Domaine non autorisé par votre organisation."
FAST: dict[str, object] = {"poll_interval": 0.1, "heartbeat_interval": 0.2, "max_seconds": 60}


@pytest.fixture
async def web() -> AsyncIterator[WebFixture]:
    async with web_fixture(PAGES) as running:
        yield running


@pytest.fixture
async def site(tmp_path: Path, database_url: str, web: WebFixture) -> AsyncIterator[Site]:
    async with echo_upstream() as echo_url:
        models = ModelsConfig(
            models=[ModelConfig(id="echo", replicas=[ReplicaConfig(url=echo_url)])]
        )
        settings = {
            "searxng_url": web.engine_url,
            # The site is reachable under both names: only the domain lists tell them apart.
            "allowed_hosts": f"{web.site_host},localhost",
            "engine_timeout": 20,
            "fetch_timeout": 10,
            "read_budget": 30,
        }
        async with run_site(tmp_path, database_url, models, web=settings, research=FAST) as running:
            yield running


async def set_domains(
    site: Site, allowed: list[str] | None = None, blocked: list[str] | None = None
) -> None:
    """The lists of every organisation (the site's people and the API key's member)."""
    engine = create_engine(site.autan.settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            await session.execute(
                update(Organisation).values(
                    web_allowed_domains=allowed, web_blocked_domains=blocked
                )
            )
            await session.commit()
    finally:
        await engine.dispose()


async def save_domains(site: Site, allowed: str = "", blocked: str = "") -> None:
    """Change the lists as the referent does, on the settings page (the change reaches the
    running application at once, as the cached organisation policy is forgotten)."""
    async with site.signed_in("ref_a") as referent:
        csrf = hidden((await referent.get("/")).text, "csrf_token")
        form = {
            "csrf_token": csrf,
            "all_models": "on",
            "web_access": "research",
            "web_allowed_domains": allowed,
            "web_blocked_domains": blocked,
        }
        saved = await referent.post("/admin/orgs/agri/settings", data=form)
        assert saved.status_code == 303, saved.text


async def send(browser: httpx.AsyncClient, content: str, **extra: Any) -> list[Any]:
    csrf = hidden((await browser.get("/")).text, "csrf_token")
    body = {"action": "send", "content": content, "model": "echo", **extra}
    response = await browser.post(
        "/chat/turn",
        content=orjson.dumps(body),
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
        timeout=90,
    )
    assert response.status_code == 200, response.text
    return parse_events(response.content)


def sources_of(events: list[Any]) -> list[dict[str, Any]]:
    return next((data["sources"] for name, data in events if name == "sources"), [])


def refused_of(events: list[Any]) -> dict[str, str]:
    return {s["url"]: s["reason"] for s in sources_of(events) if s["kind"] == "web_refused"}


async def page_of(browser: httpx.AsyncClient, events: list[Any]) -> str:
    conversation = next(d["id"] for n, d in events if n == "conversation")
    return (await browser.get(f"/c/{conversation}")).text.replace("&#39;", "'")


async def test_search_results_outside_the_allow_list_are_not_read_and_the_member_is_told(
    site: Site, web: WebFixture
) -> None:
    await set_domains(site, allowed=["*.gouv.fr", "legifrance.gouv.fr"])
    async with site.signed_in("member_a") as browser:
        events = await send(browser, QUESTION, web_search=True)
        assert web.queries  # the engine was asked...
        assert web.site_headers == []  # ...but no page of another domain was read
        assert [s for s in sources_of(events) if s["kind"] == "web"] == []
        refused = refused_of(events)
        assert refused[web.url("/particuliers/passeport")] == "domain"
        assert set(refused.values()) == {"domain"}
        assert "done" in [name for name, _ in events]  # the answer is still given
        assert REFUSED_WORDS in await page_of(browser, events)
    # The site allowed: the same search reads and cites the page.
    await save_domains(site, allowed="127.0.0.1")
    async with site.signed_in("member_a") as browser:
        events = await send(browser, QUESTION, web_search=True)
    cited = [s["url"] for s in sources_of(events) if s["kind"] == "web"]
    assert web.url("/particuliers/passeport") in cited


async def test_a_pasted_link_on_the_block_list_is_not_read(site: Site, web: WebFixture) -> None:
    await set_domains(site, blocked=["127.0.0.1"])
    link = web.url("/particuliers/passeport")
    async with site.signed_in("member_a") as browser:
        events = await send(browser, f"Que dit cette page ? {link}")
        assert refused_of(events) == {link: "domain"}
        assert web.site_headers == []
        assert REFUSED_WORDS in await page_of(browser, events)


async def test_a_redirect_to_a_domain_outside_the_lists_is_refused(
    site: Site, web: WebFixture
) -> None:
    link = web.url("/redirect-elsewhere")  # 127.0.0.1 -> localhost, the same server
    async with site.signed_in("member_a") as browser:
        followed = await send(browser, f"Que dit cette page ? {link}")
        assert [s["excerpt"] for s in sources_of(followed) if s["kind"] == "web"]
        await save_domains(site, allowed="127.0.0.1")
        events = await send(browser, f"Que dit cette page ? {link}")
        assert refused_of(events) == {link: "domain"}
        await save_domains(site, blocked="localhost")
        events = await send(browser, f"Que dit cette page ? {link}")
        assert refused_of(events) == {link: "domain"}


async def test_deep_research_reads_nothing_outside_the_allow_list(
    site: Site, web: WebFixture
) -> None:
    await set_domains(site, allowed=["legifrance.gouv.fr"])
    async with httpx.AsyncClient(
        base_url=site.autan.base_url, headers={"Authorization": f"Bearer {site.autan.api_key}"}
    ) as client:
        created = await client.post("/v1/research", json={"question": QUESTION})
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        for _ in range(900):
            job: dict[str, Any] = (await client.get(f"/v1/research/{job_id}")).json()
            if job["status"] not in ("queued", "running"):
                break
            await asyncio.sleep(0.1)
    assert job["status"] == "done", job
    assert job["sources"] == []
    skipped = [s for s in job["steps"] if s["kind"] == "skipped"]
    assert skipped and {s["reason"] for s in skipped} == {"domain"}
    assert web.queries and web.site_headers == []
