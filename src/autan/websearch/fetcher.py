"""Reading web pages safely: checked addresses, re-checked redirects, bounded size and time.

No cookies, no credentials and no proxy settings from the environment are ever used; a
URL carrying a user name or password is refused. HTML goes through trafilatura (main text,
title, date), PDFs through the documents extraction, plain text as it is.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urljoin

import aiohttp
import anyio
import structlog
import trafilatura
from aiohttp.resolver import ThreadedResolver

from autan.documents.extraction.dispatch import extract
from autan.documents.extraction.errors import ExtractionError
from autan.documents.extraction.model import ExtractionLimits
from autan.websearch.addresses import DomainRules, GuardedResolver, HostRules
from autan.websearch.errors import FetchRefused
from autan.websearch.settings import WebSettings

log = structlog.get_logger(__name__)

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_HTML = frozenset({"text/html", "application/xhtml+xml"})
_TEXT = frozenset({"text/plain", "text/markdown"})
_PDF = frozenset({"application/pdf"})
_ACCEPT = "text/html,application/xhtml+xml,application/pdf;q=0.9,text/plain;q=0.8"
_PDF_LIMITS = ExtractionLimits(max_pages=300, ocr=False, max_characters=2_000_000)
MAX_TEXT_CHARS = 400_000


@dataclass(frozen=True, slots=True)
class Page:
    """The readable text of a page, with what is known of it."""

    url: str
    title: str
    text: str
    published: str | None = None
    site: str = ""


def _html_page(url: str, body: bytes) -> Page:
    document = trafilatura.bare_extraction(
        body.decode("utf-8", errors="replace"),
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
    )
    text = getattr(document, "text", None) or ""
    if not text.strip():
        raise FetchRefused("empty")
    return Page(
        url=url,
        title=str(getattr(document, "title", None) or ""),
        text=text[:MAX_TEXT_CHARS],
        published=getattr(document, "date", None) or None,
        site=str(getattr(document, "sitename", None) or ""),
    )


def _pdf_page(url: str, body: bytes) -> Page:
    try:
        document = extract(body, "page.pdf", _PDF_LIMITS)
    except ExtractionError as exc:
        raise FetchRefused("pdf", exc.message) from exc
    text = "\n\n".join(block.text for block in document.blocks)
    return Page(url=url, title=document.title or "", text=text[:MAX_TEXT_CHARS])


def _text_page(url: str, body: bytes, charset: str | None) -> Page:
    text = body.decode(charset or "utf-8", errors="replace")
    if not text.strip():
        raise FetchRefused("empty")
    return Page(url=url, title="", text=text[:MAX_TEXT_CHARS])


def client_session(settings: WebSettings) -> aiohttp.ClientSession:
    """The session web search uses: guarded resolver, no cookies, no environment proxies."""
    rules = HostRules(settings.allowed_host_list())
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(rules), limit=32, ttl_dns_cache=60, keepalive_timeout=15
    )
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        headers={"User-Agent": settings.user_agent},
    )


class SafeFetcher:
    """Fetches pages for web search under the deployment's and organisation's rules."""

    def __init__(self, http: aiohttp.ClientSession, settings: WebSettings) -> None:
        self._http = http
        self._settings = settings
        self._hosts = HostRules(settings.allowed_host_list())
        # The check names the reason of a refusal; the session's own resolver, guarded,
        # protects the connection that follows.
        self._resolver = ThreadedResolver()

    async def fetch(self, url: str, rules: DomainRules) -> Page:
        """The page's text, or FetchRefused saying why it was not read."""
        try:
            async with asyncio.timeout(self._settings.fetch_timeout):
                url, kind, body, charset = await self._download(url, rules)
        except TimeoutError as exc:
            raise FetchRefused("timeout", url[:200]) from exc
        # Reading the text is bounded by the size limit, not by the network's time.
        return await anyio.to_thread.run_sync(_parse, url, kind, body, charset)

    async def _download(self, url: str, rules: DomainRules) -> tuple[str, str, bytes, str | None]:
        for _hop in range(self._settings.max_redirects + 1):
            _parts, host, port = self._hosts.check_url(url, rules)
            await self._hosts.check_host(self._resolver, host, port)
            try:
                async with self._http.get(
                    url,
                    allow_redirects=False,
                    headers={"Accept": _ACCEPT},
                    timeout=aiohttp.ClientTimeout(total=self._settings.fetch_timeout),
                ) as response:
                    if response.status in _REDIRECTS:
                        location = response.headers.get("Location")
                        if not location:
                            raise FetchRefused("redirect", "no Location")
                        url = urljoin(url, location)
                        continue  # the next hop is checked like the first
                    if response.status != 200:
                        raise FetchRefused("status", str(response.status))
                    kind = response.content_type
                    if kind not in _HTML | _TEXT | _PDF:
                        raise FetchRefused("content_type", kind)
                    body = await self._read(response)
                    charset = response.charset
            except aiohttp.ClientError as exc:
                raise FetchRefused("connection", repr(exc)) from exc
            return url, kind, body, charset
        raise FetchRefused("redirects", url[:200])

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        limit = self._settings.max_page_bytes
        if response.content_length is not None and response.content_length > limit:
            raise FetchRefused("too_large", str(response.content_length))
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:  # a page that lied about its length, or a compression bomb
                raise FetchRefused("too_large", f">{limit}")
            chunks.append(chunk)
        return b"".join(chunks)


def _parse(url: str, kind: str, body: bytes, charset: str | None) -> Page:
    if kind in _PDF:
        return _pdf_page(url, body)
    if kind in _TEXT:
        return _text_page(url, body, charset)
    return _html_page(url, body)
