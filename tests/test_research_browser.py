"""Web search and deep research in a real browser (Debian's Chromium) with the real embedded
model, a SearXNG-speaking engine and a site on loopback: the "Recherche web" switch, numbered
web sources opened from the answer, a deep-research run followed step by step, reloaded,
stopped, and exported. Any script error on a page fails the test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from autan.llm.config import ModelsConfig
from tests.support.browser import DESKTOP, check_page, screenshot_folder
from tests.support.web import PASSWORD, PEOPLE, Site, run_site
from tests.support.websearch import PAGES, WebFixture, web_fixture

pytestmark = pytest.mark.slow

QUESTION = "Combien coûte le timbre fiscal du passeport ?"


@pytest.fixture
async def web() -> AsyncIterator[WebFixture]:
    async with web_fixture(PAGES) as running:
        yield running


@pytest.fixture
async def site(
    tmp_path: Path, sqlite_databases: object, embedded_models: ModelsConfig, web: WebFixture
) -> AsyncIterator[Site]:
    database_url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    settings: dict[str, object] = {
        "searxng_url": web.engine_url,
        "allowed_hosts": web.site_host,
        "engine_timeout": 60,
        "fetch_timeout": 20,
        "read_budget": 40,
    }
    # Short model answers: the machine is shared, and the test is about the pages.
    research: dict[str, object] = {
        "heartbeat_interval": 0.3,
        "poll_interval": 0.3,
        "max_questions": 2,
        "plan_tokens": 48,
        "summary_tokens": 64,
    }
    async with run_site(
        tmp_path,
        database_url,
        embedded_models,
        chat={"max_answer_tokens": 48},
        web=settings,
        research=research,
    ) as running:
        yield running


async def sign_in(page: Page, base: str) -> None:
    await page.goto(f"{base}/login")
    await page.get_by_label("Adresse électronique").fill(PEOPLE["member_a"][0])
    await page.get_by_label("Mot de passe").fill(PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await page.wait_for_url(f"{base}/")


async def test_web_search_switch_and_sources(
    site: Site, web: WebFixture, browser: Browser, tmp_path: Path
) -> None:
    folder = screenshot_folder(tmp_path)
    base = site.autan.base_url
    context = await browser.new_context(
        viewport=DESKTOP, locale="fr-FR", accept_downloads=True, bypass_csp=True
    )
    page = await context.new_page()
    page.set_default_timeout(120_000)  # a small model on two shared cores
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    await sign_in(page, base)

    # "Recherche web" on, a question: the answer cites numbered web sources.
    await page.get_by_role("switch", name="Recherche web").check()
    await page.get_by_label("Votre message").fill(QUESTION)
    await page.get_by_role("button", name="Envoyer").click()
    await page.locator("article.message-assistant .sources").wait_for()
    await page.wait_for_function("() => !document.querySelector('[aria-busy=true]')")
    source = page.locator("article.message-assistant .sources li").first
    summary = source.locator("summary")
    assert (await summary.inner_text()).startswith("[1] Passeport : première demande")
    await summary.click()
    assert "86 euros" in await source.locator("blockquote").inner_text()
    link = source.get_by_role("link", name="Ouvrir la page")
    async with context.expect_page() as opened:
        await link.click()
    web_page = await opened.value
    await web_page.wait_for_load_state()
    assert web_page.url == web.url("/particuliers/passeport")
    assert "Passeport" in await web_page.title()
    await web_page.close()
    await check_page(page, "websearch-answer", folder, full_page=False)
    assert problems == []
    await context.close()


async def test_a_deep_research_run_followed_reloaded_stopped_exported(
    site: Site, web: WebFixture, browser: Browser, tmp_path: Path
) -> None:
    folder = screenshot_folder(tmp_path)
    base = site.autan.base_url
    context = await browser.new_context(
        viewport=DESKTOP, locale="fr-FR", accept_downloads=True, bypass_csp=True
    )
    page = await context.new_page()
    page.set_default_timeout(120_000)
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    await sign_in(page, base)

    # Deep research: started from its page, each step shown as it happens.
    await page.get_by_role("link", name="Recherche approfondie").click()
    await page.get_by_role("heading", name="Recherche approfondie").wait_for()
    await check_page(page, "research-start", folder)
    await page.get_by_label("Votre question").fill(
        "Comment demander un passeport et une carte grise ?"
    )
    await page.get_by_role("button", name="Lancer la recherche").click()
    await page.wait_for_url(f"{base}/research/**")
    await page.get_by_text("Recherche :").first.wait_for()  # a search step, polled in
    await page.locator("article.research-report h2").first.wait_for()  # polled in too
    # A reload shows the same run, finished, with its report and sources.
    await page.reload()
    report = page.locator("article.research-report")
    await report.get_by_role("heading", name="Synthèse").wait_for()
    assert "[1]" in await report.inner_text()
    await report.get_by_role("heading", name="Sources").wait_for()
    await check_page(page, "research-report", folder)
    async with page.expect_download() as markdown:
        await page.get_by_role("link", name="Exporter (Markdown)").click()
    text = Path(await (await markdown.value).path()).read_text(encoding="utf-8")
    assert text.startswith("# Recherche approfondie") and "## Sources" in text
    async with page.expect_download() as word:
        await page.get_by_role("link", name="Exporter (Word)").click()
    assert (await (await word.value).path()).stat().st_size > 1000

    # A second run while the engine hangs: reloaded while it works, then stopped.
    web.mode = "slow"
    await page.get_by_role("link", name="← Toutes mes recherches").click()
    await page.get_by_label("Votre question").fill("Que faut-il faire après un déménagement ?")
    await page.get_by_role("button", name="Lancer la recherche").click()
    await page.wait_for_url(f"{base}/research/**")
    await page.get_by_text("Recherche :").first.wait_for()
    await page.reload()
    await page.get_by_text("En cours").first.wait_for()
    await check_page(page, "research-running", folder)
    await page.get_by_role("button", name="Arrêter et garder ce qui a été trouvé").click()
    await page.get_by_text("Arrêtée").first.wait_for()
    await page.get_by_text("arrêtée à votre demande").wait_for()
    await check_page(page, "research-stopped", folder)
    assert problems == []
    await context.close()
