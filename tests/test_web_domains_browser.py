"""The organisation's web domain lists on the settings page, in a real browser: a line that
is not a domain is refused in plain words with what was typed kept, then corrected and
saved; axe-core checks and screenshots at desktop and phone widths."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page
from sqlalchemy import update

from autan.accounts.models import Organisation
from tests.support.browser import (
    DESKTOP,
    PHONE,
    check_page,
    screenshot_folder,
    serious_violations,
)
from tests.support.browser_visits import visit
from tests.support.chat_turns import scripted_site
from tests.support.library import database
from tests.support.web import Site, run_site
from tests.support.websearch import PAGES, WebFixture, web_fixture

pytestmark = pytest.mark.slow

QUESTION = "Combien coûte le timbre fiscal du passeport ?"


@pytest.fixture
async def site(tmp_path: Path, sqlite_databases: object) -> AsyncIterator[Site]:
    database_url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    quotas: dict[str, object] = {"enabled": True, "searches_per_minute": 5}
    async with run_site(tmp_path, database_url, quotas=quotas) as running:
        yield running


async def test_a_referent_narrows_web_search_to_public_service_sites(
    site: Site, browser: Browser, tmp_path: Path
) -> None:
    folder = screenshot_folder(tmp_path)
    base = site.autan.base_url
    async with visit(browser, base, "ref_a", viewport=DESKTOP) as opened:
        await domain_lists(opened.page, base, folder)


async def domain_lists(page: Page, base: str, folder: Path) -> None:
    await page.goto(f"{base}/admin/orgs/agri/settings")
    allowed = page.get_by_label("Seulement ces sites")
    blocked = page.get_by_label("Jamais ces sites")
    await allowed.fill("*.gouv.fr\nlegifrance.gouv.fr")
    await blocked.fill("https://pub.exemple.com/page")
    await page.get_by_label("Recherches web par jour").fill("30")
    await page.get_by_role("button", name="Enregistrer", exact=True).click()
    alert = page.get_by_role("alert")
    await alert.wait_for()
    assert "« Jamais ces sites », ligne 1 : « https://pub.exemple.com/page » n'est pas un " in (
        await alert.inner_text()
    )
    # Nothing typed is lost.
    assert await allowed.input_value() == "*.gouv.fr\nlegifrance.gouv.fr"
    assert await blocked.input_value() == "https://pub.exemple.com/page"
    assert await page.get_by_label("Recherches web par jour").input_value() == "30"
    # The whole page: the message at the top of the form, what was typed kept below it.
    await check_page(page, "settings-web-domains-refused", folder)

    await blocked.fill("pub.exemple.com")
    await page.get_by_role("button", name="Enregistrer", exact=True).click()
    await page.wait_for_url("**/settings?saved=1")
    assert await allowed.input_value() == "*.gouv.fr\nlegifrance.gouv.fr"
    assert await blocked.input_value() == "pub.exemple.com"
    assert await page.get_by_label("Only these sites").count() == 0  # French page
    # What a referent sees of the lists, at each width (the page itself is checked whole
    # just above, refused).
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        await page.set_viewport_size(size)
        legend = page.get_by_text("Sites que la recherche web peut lire")
        await legend.evaluate("e => { e.scrollIntoView({block: 'start'}); scrollBy(0, -16); }")
        assert await serious_violations(page) == []
        await page.screenshot(path=str(folder / f"settings-web-domains-{label}.png"))


@pytest.fixture
async def web() -> AsyncIterator[WebFixture]:
    async with web_fixture(PAGES) as running:
        yield running


@pytest.fixture
async def chat_site(
    tmp_path: Path, sqlite_databases: object, web: WebFixture
) -> AsyncIterator[Site]:
    database_url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    settings: dict[str, object] = {
        "searxng_url": web.engine_url,
        "allowed_hosts": web.site_host,
        "engine_timeout": 30,
        "fetch_timeout": 20,
        "read_budget": 30,
    }
    quotas: dict[str, object] = {"enabled": True, "requests_per_minute": 0}
    async with scripted_site(tmp_path, database_url, quotas=quotas, web=settings) as running:
        async with database(running) as session:
            await session.execute(
                update(Organisation).values(
                    web_allowed_domains=["*.gouv.fr"],
                    research_limits={"searches_per_minute": 1},
                )
            )
            await session.commit()
        yield running


async def test_a_member_is_told_why_a_site_was_not_read_and_keeps_a_refused_question(
    chat_site: Site, web: WebFixture, browser: Browser, tmp_path: Path
) -> None:
    folder = screenshot_folder(tmp_path)
    base = chat_site.autan.base_url
    async with visit(browser, base, "member_a", viewport=DESKTOP) as opened:
        await refused_site_and_search(opened.page, base, folder, web)


async def refused_site_and_search(page: Page, base: str, folder: Path, web: WebFixture) -> None:
    await page.get_by_role("switch", name="Recherche web").check()
    await page.get_by_label("Votre message").fill(QUESTION)
    await page.get_by_role("button", name="Envoyer").click()
    refused = page.locator("article.message-assistant .refused-links li").first
    await refused.wait_for()
    assert "Domaine non autorisé par votre organisation." in await refused.inner_text()
    await page.wait_for_function("() => !document.querySelector('[aria-busy=true]')")
    assert web.site_headers == []  # the site is outside *.gouv.fr: never asked
    answer = await page.locator("article.message-assistant").first.inner_text()
    assert "sur des sites que votre organisation n'autorise pas" in answer
    await check_page(page, "websearch-refused-domain", folder, full_page=False)

    # One search a minute for this organisation: the next one is refused in plain words,
    # and the question stays in the composer.
    again = "Et pour un enfant, combien coûte le passeport ?"
    await page.get_by_label("Votre message").fill(again)
    await page.get_by_role("button", name="Envoyer").click()
    alert = page.get_by_role("alert").filter(has_text="recherche web par minute")
    await alert.wait_for()
    assert "Vous pourrez chercher de nouveau sur le web dans" in await alert.inner_text()
    assert await page.get_by_label("Votre message").input_value() == again
