"""The organisation settings' web access (off / search / search and deep research) and
deep-research limits, in a real browser with axe-core checks and screenshots."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from tests.support.browser import DESKTOP, check_page, screenshot_folder
from tests.support.browser_visits import visit
from tests.support.web import Site, run_site

pytestmark = pytest.mark.slow


@pytest.fixture
async def site(tmp_path: Path, sqlite_databases: object) -> AsyncIterator[Site]:
    database_url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    async with run_site(tmp_path, database_url) as running:
        yield running


async def test_a_referent_chooses_web_search_only_and_lowers_a_limit(
    site: Site, browser: Browser, tmp_path: Path
) -> None:
    folder = screenshot_folder(tmp_path)
    base = site.autan.base_url
    async with visit(browser, base, "ref_a", viewport=DESKTOP) as opened:
        await web_access_settings(opened.page, base, folder)


async def web_access_settings(page: Page, base: str, folder: Path) -> None:
    await page.goto(f"{base}/admin/orgs/agri/settings")
    research = page.get_by_label("Recherche web et recherche approfondie")
    assert await research.is_checked()
    await page.get_by_label("Recherche web", exact=True).check()
    await page.get_by_label("Pages web lues").fill("5")
    await page.get_by_role("button", name="Enregistrer", exact=True).click()
    await page.wait_for_url("**/settings?saved=1")
    assert await page.get_by_label("Recherche web", exact=True).is_checked()
    assert await page.get_by_label("Pages web lues").input_value() == "5"
    assert await page.get_by_label("Web pages read").count() == 0  # French page
    await check_page(page, "settings-web-access", folder)
