"""A link pasted in a chat message is read when the organisation allows web access, even with
the "Recherche web" switch off: its main text goes into the prompt and it is cited as a
numbered web source; a link that cannot be read is said so, in plain words, in the sources."""

from __future__ import annotations

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
            "allowed_hosts": web.site_host,
            "fetch_timeout": 3,
            "read_budget": 20,
        }
        async with run_site(tmp_path, database_url, models, web=settings) as running:
            yield running


async def send(browser: httpx.AsyncClient, content: str) -> list[tuple[str, dict[str, Any]]]:
    csrf = hidden((await browser.get("/")).text, "csrf_token")
    response = await browser.post(
        "/chat/turn",
        content=orjson.dumps({"action": "send", "content": content, "model": "echo"}),
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return parse_events(response.content)


def sources_of(events: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    return next((data["sources"] for name, data in events if name == "sources"), [])


def prompt_of(events: list[tuple[str, dict[str, Any]]]) -> str:
    text = "".join(data["text"] for name, data in events if name == "delta")
    echoed = orjson.loads(text[text.index("{") :])["body"]
    return str(echoed["messages"][-1]["content"])


async def test_a_pasted_link_is_read_and_cited_without_the_switch(
    site: Site, web: WebFixture
) -> None:
    link = web.url("/particuliers/passeport")
    async with site.signed_in("member_a") as browser:
        events = await send(browser, f"Que dit cette page ? {link}")
        sources = sources_of(events)
        assert [(s["number"], s["kind"], s["url"]) for s in sources] == [(1, "web", link)]
        assert "86 euros" in sources[0]["excerpt"]
        prompt = prompt_of(events)
        assert "[1] Passeport : première demande" in prompt and "86 euros" in prompt
        assert web.queries == []  # the switch is off: nothing was searched
        # The answer page shows the source after a reload.
        conversation = next(d["id"] for n, d in events if n == "conversation")
        page = (await browser.get(f"/c/{conversation}")).text
        assert "Passeport : première demande" in page and link in page


async def test_refused_links_are_said_in_plain_words_and_the_answer_given(
    site: Site, web: WebFixture
) -> None:
    private = web.url("/redirect-metadata")
    image = web.url("/image.png")
    async with site.signed_in("member_a") as browser:
        events = await send(browser, f"Lis {private} et {image} s'il te plaît")
        refused = {s["url"]: s for s in sources_of(events) if s["kind"] == "web_refused"}
        assert refused[private]["reason"] == "address"
        assert refused[image]["reason"] == "content_type"
        assert "done" in [name for name, _ in events]  # the answer is still given
        conversation = next(d["id"] for n, d in events if n == "conversation")
        page = (await browser.get(f"/c/{conversation}")).text
        assert "réseau privé ou interne" in page
        assert "Seules les pages web, les PDF et les fichiers texte sont lus." in page


async def test_links_are_not_read_when_the_organisation_forbids_web_access(
    site: Site, web: WebFixture
) -> None:
    engine = create_engine(site.autan.settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            await session.execute(update(Organisation).values(web_search_allowed=False))
            await session.commit()
    finally:
        await engine.dispose()
    async with site.signed_in("member_a") as browser:
        events = await send(browser, f"Que dit {web.url('/particuliers/passeport')} ?")
    assert sources_of(events) == []
    assert web.site_headers == []  # the page was never asked for
