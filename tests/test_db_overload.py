"""A process whose database connections are all in use refuses fast (503 + Retry-After).

Pages, chat turns and the API wait at most the pool's timeout for a connection, then answer
503 with Retry-After: an overloaded deployment sheds load, it does not fail with 500 nor
leave requests waiting until the client gives up."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from tests.support.web import Site, hidden, run_site

POOL_SIZE = 2
POOL: dict[str, object] = {"size": POOL_SIZE, "max_overflow": 0, "timeout": 0.3}


@contextlib.asynccontextmanager
async def every_connection_taken(site: Site) -> AsyncIterator[None]:
    """Check out every connection of the server's own pool until the block ends."""
    factory: async_sessionmaker[AsyncSession] = site.autan.app.state.services.session_factory  # type: ignore[attr-defined]
    engine = factory.kw["bind"]
    held: list[AsyncConnection] = []
    deadline = time.monotonic() + 20
    try:
        while len(held) < POOL_SIZE:
            try:
                held.append(await engine.connect())
            except SATimeoutError:
                # The site's own pollers (events, workers) hold a connection for a moment:
                # on a busy machine that outlasts the pool's 0.3 s. Keep what is held, ask again.
                assert time.monotonic() < deadline, "the site never released its connections"
        yield
    finally:
        for connection in held:
            await connection.close()


async def test_exhausted_pool_answers_503_with_retry_after(
    tmp_path: Path, database_url: str
) -> None:
    async with (
        run_site(tmp_path, database_url, database_pool=POOL) as site,
        site.signed_in("member_a") as browser,
    ):
        page = await browser.get("/")
        assert page.status_code == 200, page.text
        csrf = hidden(page.text, "csrf_token")
        async with every_connection_taken(site):
            busy_page = await browser.get("/")
            turn = await browser.post(
                "/chat/turn",
                content=orjson.dumps({"action": "send", "content": "Bonjour"}),
                headers={
                    "X-CSRF-Token": csrf,
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                },
            )
            async with site.autan.client() as api:
                listing = await api.get("/v1/models")
        for refused in (busy_page, turn, listing):
            assert refused.status_code == 503, (refused.request.url, refused.text)
            assert int(refused.headers["Retry-After"]) >= 1
        # The page is the error page in the reader's language, not a traceback.
        assert "text/html" in busy_page.headers["content-type"]
        assert "momentanément indisponible" in busy_page.text
        assert turn.json()["error"]["code"] == "database_busy"
        # Once connections are free again, the same person carries on.
        again = await browser.get("/")
        assert again.status_code == 200, again.text


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    """Send one request on an open connection; the status of its answer (body read)."""
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(
        int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")
    )
    await reader.readexactly(length)
    return int(lines[0].split()[1])


async def test_a_busy_refusal_keeps_the_connection_open(tmp_path: Path, database_url: str) -> None:
    """A 503 for a busy pool must not close the keep-alive connection it was answered on.

    Under load, clients reuse their connections: a refusal that also reset the connection
    turned every shed request into a connection error for the next one."""
    async with run_site(tmp_path, database_url, database_pool=POOL) as site:
        port = int(site.autan.base_url.rsplit(":", 1)[1])
        request = (
            "GET /v1/models HTTP/1.1\r\nHost: autan\r\n"
            f"Authorization: Bearer {site.autan.api_key}\r\n\r\n"
        ).encode()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            async with every_connection_taken(site):
                assert await _exchange(reader, writer, request) == 503
            assert await _exchange(reader, writer, request) == 200
        finally:
            writer.close()
            await writer.wait_closed()
