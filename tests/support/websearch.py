"""A SearXNG-speaking search engine and a web site, both on loopback, for web search tests.

The engine answers `GET /search?q=...&format=json` as SearXNG does (a `results` list of
`url`, `title`, `content`, `publishedDate`), ranking the site's pages by the words they
share with the query; `mode` makes it dead (HTTP 500) or slow. The site serves HTML pages
and the awkward cases: a slow page, a 50 MB page, redirects to loopback and to the cloud
metadata address, a redirect to the same site under another name (`localhost`), a PDF, an
image, plain text.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web

from autan.websearch.passages import terms
from tests.documents.files import make_pdf

Mode = Literal["ok", "dead", "slow"]
BIG_BYTES = 50 * 1024 * 1024


@dataclass(slots=True)
class FakePage:
    path: str
    title: str
    text: str
    published: str | None = "2026-03-02"


@dataclass(slots=True)
class WebFixture:
    """The running engine and site, and what the engine was asked (to check privacy)."""

    engine_url: str
    site_url: str
    site_host: str  # host:port of the site
    pages: list[FakePage]
    mode: Mode = "ok"
    queries: list[dict[str, str]] = field(default_factory=list)
    engine_headers: list[dict[str, str]] = field(default_factory=list)
    site_headers: list[dict[str, str]] = field(default_factory=list)
    # Extra results put first in every answer (unsafe URLs, odd pages).
    extra_results: list[dict[str, str]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.site_url}{path}"


def page_html(page: FakePage) -> str:
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in page.text.split("\n") if p)
    meta = (
        f'<meta property="article:published_time" content="{page.published}">'
        if page.published
        else ""
    )
    return (
        f"<!doctype html><html lang=fr><head><meta charset=utf-8><title>{html.escape(page.title)}"
        f"</title>{meta}</head><body><nav><a href=/>Accueil</a> <a href=/aide>Aide</a></nav>"
        f"<main><article><h1>{html.escape(page.title)}</h1>{paragraphs}</article></main>"
        "<footer>Mentions légales - Plan du site</footer></body></html>"
    )


class _Index:
    """Which pages hold each word, computed once per list of pages: ranking a query then
    costs its words' postings, not a pass over every page (a benchmark's engine must not
    be what it measures)."""

    def __init__(self, pages: list[FakePage]) -> None:
        self.pages = list(pages)
        self.postings: dict[str, list[int]] = {}
        for number, page in enumerate(self.pages):
            for word in set(terms(page.title + " " + page.text)):
                self.postings.setdefault(word, []).append(number)


_INDEXES: dict[int, _Index] = {}


def _rank(pages: list[FakePage], query: str) -> list[FakePage]:
    """Pages sharing words with the query, most shared first (ties: page order)."""
    index = _INDEXES.get(id(pages))
    if index is None or index.pages != pages:
        index = _INDEXES[id(pages)] = _Index(pages)
    scores: dict[int, int] = {}
    for word in set(terms(query)):
        for number in index.postings.get(word, ()):
            scores[number] = scores.get(number, 0) + 1
    ranked = sorted(scores, key=lambda number: (-scores[number], number))
    return [index.pages[number] for number in ranked]


def _engine(fixture: WebFixture) -> web.Application:
    async def search(request: web.Request) -> web.Response:
        fixture.queries.append(dict(request.query))
        fixture.engine_headers.append(dict(request.headers))
        if fixture.mode == "dead":
            return web.json_response({"error": "engine down"}, status=500)
        if fixture.mode == "slow":
            await asyncio.sleep(30)
        if request.query.get("format") != "json":
            return web.Response(status=403, text="format not allowed")
        results = [
            {
                "url": fixture.url(p.path),
                "title": p.title,
                "content": p.text[:150],
                "publishedDate": f"{p.published}T00:00:00" if p.published else None,
                "engine": "fake",
            }
            for p in _rank(fixture.pages, request.query.get("q", ""))
        ]
        return web.json_response(
            {"query": request.query.get("q"), "results": [*fixture.extra_results, *results]}
        )

    app = web.Application()
    app.router.add_get("/search", search)
    return app


def _site(fixture: WebFixture, other_port: int) -> web.Application:
    async def page(request: web.Request) -> web.Response:
        fixture.site_headers.append(dict(request.headers))
        for item in fixture.pages:
            if item.path == request.path:
                return web.Response(text=page_html(item), content_type="text/html")
        raise web.HTTPNotFound()

    async def slow(_request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.Response(text="<p>trop tard</p>", content_type="text/html")

    async def big(request: web.Request) -> web.StreamResponse:
        # No Content-Length: only counting while reading stops it.
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        await response.prepare(request)
        chunk = b"<p>" + b"remplissage " * 8000 + b"</p>"
        sent = 0
        with contextlib.suppress(ConnectionError):
            while sent < BIG_BYTES:
                await response.write(chunk)
                sent += len(chunk)
        return response

    async def redirect_loopback(_request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://127.0.0.1:{other_port}/secret")

    async def redirect_metadata(_request: web.Request) -> web.Response:
        raise web.HTTPFound("http://169.254.169.254/latest/meta-data/")

    async def redirect_elsewhere(request: web.Request) -> web.Response:
        # The same server under another name: only domain rules tell the two apart.
        port = request.url.port
        raise web.HTTPFound(f"http://localhost:{port}{fixture.pages[1].path}")

    async def redirect_ok(_request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently(fixture.pages[0].path)

    async def pdf(_request: web.Request) -> web.Response:
        return web.Response(body=make_pdf(), content_type="application/pdf")

    async def image(_request: web.Request) -> web.Response:
        return web.Response(body=b"\x89PNG\r\n\x1a\n" + b"\0" * 64, content_type="image/png")

    async def text(_request: web.Request) -> web.Response:
        body = "Horaires de la mairie : du lundi au vendredi, de 9 h à 17 h."
        return web.Response(text=body, content_type="text/plain")

    app = web.Application()
    for path, handler in {
        "/slow": slow,
        "/big": big,
        "/redirect-loopback": redirect_loopback,
        "/redirect-metadata": redirect_metadata,
        "/redirect-ok": redirect_ok,
        "/redirect-elsewhere": redirect_elsewhere,
        "/doc.pdf": pdf,
        "/image.png": image,
        "/horaires.txt": text,
    }.items():
        app.router.add_get(path, handler)
    app.router.add_get("/{tail:.*}", page)
    return app


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port: int = runner.addresses[0][1]
    return runner, port


async def _secret(_request: web.Request) -> web.Response:
    return web.Response(text="<p>secret interne</p>", content_type="text/html")


@contextlib.asynccontextmanager
async def web_fixture(pages: list[FakePage]) -> AsyncIterator[WebFixture]:
    """Start the engine, the site, and an internal server the site redirects to."""
    internal = web.Application()
    internal.router.add_get("/secret", _secret)
    internal_runner, internal_port = await _serve(internal)
    fixture = WebFixture("", "", "", pages)
    site_runner, site_port = await _serve(_site(fixture, internal_port))
    engine_runner, engine_port = await _serve(_engine(fixture))
    fixture.engine_url = f"http://127.0.0.1:{engine_port}"
    fixture.site_url = f"http://127.0.0.1:{site_port}"
    fixture.site_host = f"127.0.0.1:{site_port}"
    try:
        yield fixture
    finally:
        for runner in (engine_runner, site_runner, internal_runner):
            await runner.cleanup()


PAGES = [
    FakePage(
        "/particuliers/carte-grise",
        "Carte grise : demande en ligne",
        "La demande de carte grise (certificat d'immatriculation) se fait uniquement en ligne "
        "sur le site de l'ANTS.\nLe coût de la carte grise dépend de la région et de la "
        "puissance fiscale du véhicule.\nLe délai de réception est d'environ une semaine.",
    ),
    FakePage(
        "/particuliers/passeport",
        "Passeport : première demande",
        "Pour obtenir un passeport, il faut prendre rendez-vous en mairie.\nLe timbre fiscal "
        "coûte 86 euros pour un adulte.\nLe passeport est valable dix ans.",
    ),
    FakePage(
        "/particuliers/demenagement",
        "Déménagement : les démarches",
        "Après un déménagement, la carte grise doit être mise à jour dans le mois.\nLe "
        "changement d'adresse est gratuit.",
        published=None,
    ),
]
