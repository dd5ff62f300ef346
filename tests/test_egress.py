"""Egress: with web search off for the organisation, a whole chat session (an attached file,
questions, a pasted link, the conversation read back) connects to no host but the configured
model replicas and the database. Every socket the server process opens is observed by
wrapping `socket.socket.connect` and `socket.getaddrinfo` (asyncio, aiohttp, httpx and
asyncpg all go through them); a SearXNG-speaking engine and a page server run on loopback,
configured and allow-listed, and must see nothing."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import update

from autan.accounts.models import Organisation
from autan.core.db import create_engine, session_factory
from autan.llm.config import ModelsConfig
from tests.support.chat_turns import ask, csrf_of, wait_ready
from tests.support.web import Site, run_site
from tests.support.websearch import PAGES, WebFixture, web_fixture
from tests.test_chat_documents import NOTE
from tests.test_research import web_settings

pytestmark = pytest.mark.slow

Peer = tuple[str, Any]  # ("inet", (host, port)) or ("unix", path)


class Sockets:
    """The peers every socket of this process connected to, and the names it resolved."""

    def __init__(self) -> None:
        self.peers: list[Peer] = []
        self.names: list[str] = []

    def connected(self, sock: socket.socket, address: Any) -> None:
        if sock.family == socket.AF_UNIX:
            self.peers.append(("unix", str(address)))
        else:
            self.peers.append(("inet", (str(address[0]), int(address[1]))))


@pytest.fixture
def sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sockets]:
    seen = Sockets()
    connect, connect_ex, getaddrinfo = (
        socket.socket.connect,
        socket.socket.connect_ex,
        socket.getaddrinfo,
    )

    def watched_connect(sock: socket.socket, address: Any) -> None:
        seen.connected(sock, address)
        connect(sock, address)

    def watched_connect_ex(sock: socket.socket, address: Any) -> int:
        seen.connected(sock, address)
        return connect_ex(sock, address)

    def watched_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        seen.names.append(host.decode() if isinstance(host, bytes) else str(host))
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", watched_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", watched_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", watched_getaddrinfo)
    yield seen


@pytest.fixture
async def web() -> AsyncIterator[WebFixture]:
    async with web_fixture(PAGES) as running:
        yield running


@pytest.fixture
async def site(
    tmp_path: Path, database_url: str, embedded_models: ModelsConfig, web: WebFixture
) -> AsyncIterator[Site]:
    async with run_site(tmp_path, database_url, embedded_models, web=web_settings(web)) as running:
        engine = create_engine(database_url)
        try:
            async with session_factory(engine)() as session:
                await session.execute(update(Organisation).values(web_search_allowed=False))
                await session.commit()
        finally:
            await engine.dispose()
        yield running


def allowed_peers(site: Site, models: ModelsConfig, database_url: str) -> set[Peer]:
    """The model replicas, the database, and Autan itself (the test's own client)."""
    allowed: set[Peer] = set()
    for url in [site.autan.base_url, *(r.url for m in models.models for r in m.replicas)]:
        parts = urlsplit(url)
        assert parts.hostname is not None and parts.port is not None
        allowed.add(("inet", (parts.hostname, parts.port)))
    socket_dir = parse_qs(urlsplit(database_url).query).get("host")
    if socket_dir:  # PostgreSQL through its Unix socket
        allowed.add(("unix", f"{socket_dir[0]}/.s.PGSQL.5432"))
    return allowed


async def test_web_search_off_means_no_connection_but_the_models(
    site: Site,
    web: WebFixture,
    sockets: Sockets,
    embedded_models: ModelsConfig,
    database_url: str,
) -> None:
    async with site.signed_in("member_a") as browser:
        csrf = await csrf_of(browser)
        sent = await browser.post(
            "/chat/attachments",
            files={"file": ("note-de-service.md", NOTE.encode(), "text/markdown")},
            headers={"X-CSRF-Token": csrf},
        )
        assert sent.status_code == 201, sent.text
        conversation_id = sent.json()["conversation_id"]
        info = await wait_ready(browser, f"/chat/attachments/{sent.json()['document']['id']}")
        assert info["status"] == "ready"
        page = web.url("/particuliers/passeport")
        for content, web_search in (
            ("Quand la prime de fin d'année est-elle versée ?", None),
            (f"Que dit cette page {page} sur le passeport ?", True),  # switch refused: off
            ("Et le télétravail ?", None),
        ):
            body: dict[str, Any] = {"content": content, "conversation_id": conversation_id}
            if web_search is not None:
                body["web_search"] = web_search
            response, events = await ask(browser, csrf, **body)
            assert response.status_code in (200, 403), response.text
            if response.status_code == 200:
                assert any(name == "done" for name, _ in events), events
        assert (await browser.get(f"/c/{conversation_id}")).status_code == 200
        assert (await browser.get("/")).status_code == 200
    # Nothing went to the search engine or the page server...
    assert web.queries == [] and web.site_headers == []
    # ...nor anywhere else: every connection of this process went to a replica, the
    # database or Autan itself, and no name other than loopback was looked up.
    allowed = allowed_peers(site, embedded_models, database_url)
    unexpected = [peer for peer in sockets.peers if peer not in allowed]
    assert unexpected == [], unexpected
    replicas = allowed - {("inet", ("127.0.0.1", int(urlsplit(site.autan.base_url).port or 0)))}
    assert any(peer in replicas for peer in sockets.peers)  # the observation works
    assert set(sockets.names) <= {"127.0.0.1", "localhost", "::1"}, sockets.names
