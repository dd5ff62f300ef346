"""The web UI in a real browser (Debian's Chromium through Playwright), with axe-core checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.support.browser import DESKTOP, PHONE, check_page, screenshot_folder, serious_violations
from tests.support.web import PASSWORD, PEOPLE, Site, run_site

pytestmark = pytest.mark.slow


@pytest.fixture
async def site(tmp_path: Path, sqlite_databases: object) -> AsyncIterator[Site]:
    database_url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    async with run_site(tmp_path, database_url) as running:
        yield running


async def test_sign_in_create_a_key_and_a_code(
    site: Site, browser: Browser, tmp_path: Path
) -> None:
    folder = screenshot_folder(tmp_path)
    base = site.autan.base_url
    # axe-core is injected as an inline script, which the pages' CSP would refuse.
    context = await browser.new_context(viewport=DESKTOP, locale="fr-FR", bypass_csp=True)
    page = await context.new_page()
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)

    await page.goto(f"{base}/login")
    await check_page(page, "login", folder)
    await page.get_by_label("Adresse électronique").fill(PEOPLE["ref_a"][0])
    await page.get_by_label("Mot de passe").fill(PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await page.wait_for_url(f"{base}/")
    await page.get_by_role("heading", name="Nouvelle conversation").wait_for()
    assert PEOPLE["ref_a"][0] in await page.locator(".signed-in-as").inner_text()
    assert await serious_violations(page) == []

    await page.get_by_role("link", name="Mes clés d'API").first.click()
    await page.wait_for_url(f"{base}/settings/keys")
    await page.get_by_label("Nom").fill("script de test")
    await page.get_by_role("button", name="Créer la clé").click()
    secret = await page.locator("#new-secret").text_content()
    assert secret is not None and secret.startswith("sk-autan-")
    assert await serious_violations(page) == []

    await page.goto(f"{base}/admin/orgs/agri/users")
    await check_page(page, "admin-users", folder)
    # Search as you type (htmx) narrows the table without a reload.
    await page.get_by_label("Rechercher par courriel ou par nom").fill("agent")
    await page.wait_for_url("**/users?q=agent")
    assert await page.locator("#users tbody tr").count() == 1

    await page.get_by_role("link", name="Codes d'accès").click()
    await page.wait_for_url(f"{base}/admin/orgs/agri/codes")
    await page.get_by_label("Libellé (facultatif)").fill("Service juridique")
    await page.get_by_label("Nombre d'utilisations").fill("5")
    await page.get_by_role("button", name="Créer le code").click()
    code = page.locator("code.access-code").first
    await code.wait_for()
    assert len((await code.text_content() or "").replace("-", "")) == 16
    assert await serious_violations(page) == []

    for section in ("settings", "audit"):
        await page.goto(f"{base}/admin/orgs/agri/{section}")
        assert await serious_violations(page) == [], section
    await context.close()
    assert refused == []


async def test_pages_work_under_their_content_security_policy(site: Site, browser: Browser) -> None:
    context = await browser.new_context(viewport=PHONE, locale="fr-FR")
    page = await context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    await page.goto(f"{site.autan.base_url}/login")
    await page.get_by_label("Adresse électronique").fill(PEOPLE["member_a"][0])
    await page.get_by_label("Mot de passe").fill(PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await page.wait_for_url(f"{site.autan.base_url}/")
    await page.get_by_role("link", name="English").click()
    await page.get_by_role("heading", name="New conversation").wait_for()
    assert await page.evaluate("() => typeof htmx") == "object"
    await context.close()
    assert problems == []
