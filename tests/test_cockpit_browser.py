"""The usage cockpit in a real browser, with seeded months of usage: axe and reflow checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from autan.devtools.demo import SeedPlan, seed
from tests.support.browser import DESKTOP, check_page, screenshot_folder
from tests.support.library import database
from tests.support.web import PASSWORD, PEOPLE, Site, run_site

pytestmark = pytest.mark.slow


@pytest.fixture
async def site(tmp_path: Path, sqlite_databases: object) -> AsyncIterator[Site]:
    database_url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    async with run_site(tmp_path, database_url) as running:
        yield running


async def test_cockpit_with_seeded_usage(site: Site, browser: Browser, tmp_path: Path) -> None:
    async with database(site) as session:
        await seed(session, SeedPlan("agri", users=120, requests=20_000, days=200))
    folder = screenshot_folder(tmp_path)
    base = site.autan.base_url
    context = await browser.new_context(viewport=DESKTOP, locale="fr-FR", bypass_csp=True)
    page = await context.new_page()
    await page.goto(f"{base}/login")
    await page.get_by_label("Adresse électronique").fill(PEOPLE["ref_a"][0])
    await page.get_by_label("Mot de passe").fill(PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await page.wait_for_url(f"{base}/")
    await page.goto(f"{base}/admin/orgs/agri/usage?days=365&by=month")
    await page.get_by_role("heading", name="L’usage en un coup d’œil").wait_for()
    assert await page.locator("svg.chart rect").count() > 12
    await check_page(page, "cockpit-usage", folder)
    await page.get_by_label("Période").select_option("90")
    await page.get_by_label("Par", exact=True).select_option("week")
    await page.get_by_role("button", name="Afficher").click()
    await page.wait_for_url("**by=week**")
    await page.get_by_text("Tableau des chiffres").first.click()
    assert await page.locator("#requests-table tbody tr").count() >= 13
    await context.close()
