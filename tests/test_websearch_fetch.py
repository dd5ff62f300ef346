"""Web search without the application: the SearXNG client, the safe fetcher and the search
that reads pages, against a SearXNG-speaking engine and a web site on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from autan.websearch.addresses import DomainRules, GuardedResolver, HostRules, public_address
from autan.websearch.engine import SearxngEngine
from autan.websearch.errors import EngineUnavailable, FetchRefused
from autan.websearch.fetcher import SafeFetcher, client_session
from autan.websearch.passages import best_passage, links_in, queries_for
from autan.websearch.runtime import WebRuntime
from autan.websearch.service import WebSearch
from autan.websearch.settings import WebSettings
from tests.support.websearch import PAGES, WebFixture, web_fixture

ANY = DomainRules()


@pytest.fixture
async def site() -> AsyncIterator[WebFixture]:
    async with web_fixture(PAGES) as running:
        yield running


def settings_for(site: WebFixture, **changes: object) -> WebSettings:
    values: dict[str, object] = {
        "searxng_url": site.engine_url,
        "allowed_hosts": site.site_host,
        # Generous: the machine running the tests may be busy; refusals come much sooner.
        "engine_timeout": 20.0,
        "fetch_timeout": 20.0,
        "read_budget": 40.0,
        **changes,
    }
    return WebSettings.model_validate(values)


@pytest.fixture
async def runtime(site: WebFixture) -> AsyncIterator[WebRuntime]:
    running = WebRuntime(settings_for(site))
    try:
        yield running
    finally:
        await running.close()


async def fetch(site: WebFixture, url: str, rules: DomainRules = ANY, **changes: object) -> str:
    settings = settings_for(site, **changes)
    http = client_session(settings)
    try:
        page = await SafeFetcher(http, settings).fetch(url, rules)
    finally:
        await http.close()
    return page.text


async def refusal(site: WebFixture, url: str, rules: DomainRules = ANY, **changes: object) -> str:
    with pytest.raises(FetchRefused) as refused:
        # A guard against a hang, not a timing assertion: every refusal comes much sooner.
        async with asyncio.timeout(60):
            await fetch(site, url, rules, **changes)
    return refused.value.reason


async def test_search_reads_the_best_pages_and_keeps_their_passages(
    site: WebFixture, runtime: WebRuntime
) -> None:
    assert runtime.search is not None
    question = "Comment faire la demande de carte grise ?"
    findings = await runtime.search.find(question, ANY, "fr")
    assert findings.notice is None
    urls = [s.url for s in findings.sources]
    assert urls[0] == site.url("/particuliers/carte-grise")
    first = findings.sources[0]
    assert first.title == "Carte grise : demande en ligne"
    assert first.site.startswith("127.0.0.1")
    assert first.published == "2026-03-02"
    # The passage is verbatim text of the page (what the citation shows can be checked).
    page = PAGES[0]
    assert first.passage in " ".join(f"{page.title}\n{page.text}".split())
    assert "en ligne" in first.passage
    # Only the question (and its rewrite) went to the engine: no identity, no cookies.
    assert {q["q"] for q in site.queries} == set(queries_for(question))
    assert all(set(q) == {"q", "format", "language", "safesearch"} for q in site.queries)
    for headers in site.engine_headers + site.site_headers:
        assert "Cookie" not in headers and "Authorization" not in headers


async def test_a_dead_engine_gives_a_notice_and_no_sources(
    site: WebFixture, runtime: WebRuntime
) -> None:
    site.mode = "dead"
    assert runtime.search is not None
    findings = await runtime.search.find("carte grise", ANY, "fr")
    assert findings.notice == "engine_unavailable" and findings.sources == []


async def test_a_slow_engine_is_given_up_on(site: WebFixture) -> None:
    site.mode = "slow"
    running = WebRuntime(settings_for(site, engine_timeout=0.3))
    try:
        assert running.search is not None
        async with asyncio.timeout(20):  # a hang guard: the engine sleeps 30 s
            findings = await running.search.find("carte grise", ANY, "fr")
    finally:
        await running.close()
    assert findings.notice == "engine_unavailable" and findings.sources == []


async def test_the_engine_client_refuses_what_is_not_searxng_json(site: WebFixture) -> None:
    settings = settings_for(site)
    http = client_session(settings)
    try:
        engine = SearxngEngine(http, site.site_url, timeout=20.0, user_agent="test")
        with pytest.raises(EngineUnavailable):  # the site is not a search engine
            await engine.search("carte grise", lang="fr", limit=5)
    finally:
        await http.close()


async def test_a_pasted_link_is_read_and_cited(site: WebFixture, runtime: WebRuntime) -> None:
    assert runtime.search is not None
    link = site.url("/particuliers/passeport")
    findings = await runtime.search.find(f"Résume cette page : {link}.", ANY, "fr", search=False)
    assert site.queries == []  # no search asked: the engine is not told anything
    assert [s.url for s in findings.sources] == [link] and findings.sources[0].pasted


async def test_a_slow_page_is_given_up_on(site: WebFixture) -> None:
    assert await refusal(site, site.url("/slow"), fetch_timeout=0.5) == "timeout"


async def test_a_50_mb_page_is_not_read_whole(site: WebFixture) -> None:
    assert await refusal(site, site.url("/big")) == "too_large"


async def test_redirects_to_loopback_or_metadata_are_refused(site: WebFixture) -> None:
    assert await refusal(site, site.url("/redirect-loopback")) == "address"
    assert await refusal(site, site.url("/redirect-metadata")) == "address"
    # A redirect to an allowed page is followed.
    assert "carte grise" in (await fetch(site, site.url("/redirect-ok"))).lower()


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://localhost/",
        "http://10.1.2.3/",
        "http://0.0.0.0/",
    ],
)
async def test_non_public_addresses_are_refused_before_any_connection(
    site: WebFixture, url: str
) -> None:
    assert await refusal(site, url) == "address"


async def test_a_url_with_credentials_is_refused(site: WebFixture) -> None:
    url = site.url("/particuliers/passeport").replace("http://", "http://agent:secret@")
    assert await refusal(site, url) == "credentials"
    assert site.site_headers == []


async def test_other_schemes_are_refused(site: WebFixture) -> None:
    assert await refusal(site, "file:///etc/passwd") == "scheme"
    assert await refusal(site, "ftp://example.org/") == "scheme"


async def test_pages_that_are_not_html(site: WebFixture) -> None:
    assert await refusal(site, site.url("/image.png")) == "content_type"
    assert "9 h à 17 h" in await fetch(site, site.url("/horaires.txt"))
    assert (await fetch(site, site.url("/doc.pdf"))).strip()


async def test_domains_outside_the_allow_list_or_on_the_block_list(site: WebFixture) -> None:
    url = site.url("/particuliers/passeport")
    assert await refusal(site, url, DomainRules(allowed=("gouv.fr",))) == "domain"
    assert await refusal(site, url, DomainRules(blocked=("127.0.0.1",))) == "domain"
    assert "passeport" in (await fetch(site, url, DomainRules(allowed=("127.0.0.1",)))).lower()


def test_domain_rules_cover_subdomains_only() -> None:
    rules = DomainRules(allowed=("*.gouv.fr", "legifrance.gouv.fr"), blocked=("bad.gouv.fr",))
    assert rules.permits("www.service-public.gouv.fr") and rules.permits("gouv.fr")
    assert not rules.permits("gouv.fr.example.com") and not rules.permits("notgouv.fr")
    assert not rules.permits("x.bad.gouv.fr")


def test_public_addresses() -> None:
    assert public_address("8.8.8.8") and public_address("2a00:1450:4007:80e::200e")
    for address in (
        "127.0.0.1",
        "10.0.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "224.0.0.1",
        "::ffff:127.0.0.1",
        "100.64.0.1",
        "fd00::1",
    ):
        assert not public_address(address), address


async def test_the_resolver_drops_loopback_unless_allowed() -> None:
    guarded = GuardedResolver(HostRules([]))
    with pytest.raises(OSError):
        await guarded.resolve("localhost", 80)
    allowed = GuardedResolver(HostRules(["localhost"]))
    assert await allowed.resolve("localhost", 80)
    await guarded.close()
    await allowed.close()


def test_queries_links_and_passages() -> None:
    question = "Quel est le prix du passeport pour un adulte ?"
    assert queries_for(question) == [question, "prix passeport adulte"]
    assert links_in("voir https://a.fr/x, et (https://b.fr/y).") == [
        "https://a.fr/x",
        "https://b.fr/y",
    ]
    text = "Introduction générale.\nLe timbre fiscal du passeport coûte 86 euros.\nFin."
    assert "86 euros" in best_passage(text, question, size=60)


async def test_pages_read_are_bounded(site: WebFixture) -> None:
    settings = settings_for(site, pages_to_read=1)
    running = WebRuntime(settings)
    try:
        assert running.search is not None
        findings = await running.search.find("carte grise démarches", ANY, "fr")
    finally:
        await running.close()
    assert len(findings.sources) == 1


def test_web_search_is_off_without_an_engine() -> None:
    assert WebRuntime(WebSettings()).search is None
    assert isinstance(WebSearch, type)
