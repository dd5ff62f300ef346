"""The HTTP clients of web search, created only when a search engine is configured.

Without `AUTAN_WEB__SEARXNG_URL` nothing here opens a connection: a deployment without web
search talks to no host but its model replicas.
"""

from __future__ import annotations

import aiohttp

from autan.websearch.engine import SearxngEngine
from autan.websearch.fetcher import SafeFetcher, client_session
from autan.websearch.service import WebSearch
from autan.websearch.settings import WebSettings


class WebRuntime:
    """Owns the engine's and the pages' HTTP sessions for the life of a process."""

    def __init__(self, settings: WebSettings) -> None:
        self.search: WebSearch | None = None
        self._sessions: list[aiohttp.ClientSession] = []
        if not settings.enabled or settings.searxng_url is None:
            return
        # The engine is the institution's own (often on a private address): a plain
        # session, unlike pages, which go through the guarded one.
        engine_http = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(), trust_env=False)
        pages_http = client_session(settings)
        self._sessions = [engine_http, pages_http]
        engine = SearxngEngine(
            engine_http,
            settings.searxng_url,
            timeout=settings.engine_timeout,
            user_agent=settings.user_agent,
        )
        self.search = WebSearch(engine, SafeFetcher(pages_http, settings), settings)

    async def close(self) -> None:
        for session in self._sessions:
            await session.close()
