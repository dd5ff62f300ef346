"""Search engines: an interface, and SearXNG's JSON API (the default, sovereign choice).

Another engine (Brave Search API, a search appliance) is one more class with `search`.
Only the query is sent: no identity, no cookies, no conversation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urljoin

import aiohttp
import orjson

from autan.websearch.errors import EngineUnavailable


@dataclass(frozen=True, slots=True)
class SearchResult:
    """One result of a search engine, before its page is read."""

    url: str
    title: str
    snippet: str = ""
    published: str | None = None  # ISO date, when the engine knows it


class SearchEngine(Protocol):
    """What web search needs from an engine."""

    async def search(self, query: str, *, lang: str, limit: int) -> list[SearchResult]:
        """The engine's best results for one query; EngineUnavailable when it cannot say."""
        ...


class SearxngEngine:
    """SearXNG's `GET /search?q=...&format=json` (the instance must allow the json format)."""

    def __init__(
        self, http: aiohttp.ClientSession, base_url: str, *, timeout: float, user_agent: str
    ) -> None:
        self._http = http
        self._url = urljoin(base_url.rstrip("/") + "/", "search")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._headers = {"User-Agent": user_agent, "Accept": "application/json"}

    async def search(self, query: str, *, lang: str, limit: int) -> list[SearchResult]:
        """Query SearXNG; a dead, slow or misconfigured instance raises EngineUnavailable."""
        params = {"q": query, "format": "json", "language": lang, "safesearch": "1"}
        try:
            async with self._http.get(
                self._url, params=params, headers=self._headers, timeout=self._timeout
            ) as response:
                if response.status != 200:
                    raise EngineUnavailable(f"HTTP {response.status}")
                payload = orjson.loads(await response.read())
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as exc:
            raise EngineUnavailable(repr(exc)) from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("results"), list):
            raise EngineUnavailable("no results list in the answer")
        results: list[SearchResult] = []
        seen: set[str] = set()
        for item in payload["results"]:
            if not isinstance(item, dict):
                continue
            url = item.get("url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                continue
            if url in seen:
                continue
            seen.add(url)
            published = item.get("publishedDate")
            results.append(
                SearchResult(
                    url=url,
                    title=str(item.get("title") or url)[:300],
                    snippet=str(item.get("content") or "")[:1000],
                    published=str(published)[:10] if published else None,
                )
            )
            if len(results) >= limit:
                break
        return results
