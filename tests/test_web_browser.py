"""The web UI in a real browser (Debian's Chromium through Playwright), with axe-core checks."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, ViewportSize, async_playwright

from tests.support.web import PASSWORD, PEOPLE, Site, run_site

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
AXE = Path(__file__).parent / "support" / "vendor" / "axe-4.14.1.min.js"
DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=375, height=812)
# Screenshots go to docs/screenshots/ when AUTAN_SCREENSHOTS=1, else to the test's folder.
SCREENSHOTS = Path(__file__).parents[1] / "docs" / "screenshots"


@pytest.fixture
async def site(tmp_path: Path, sqlite_databases: object) -> AsyncIterator[Site]:
    database_url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    async with run_site(tmp_path, database_url) as running:
        yield running


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium package is not installed (scripts/test.sh installs it)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical WCAG 2.1 A/AA violations on the page."""
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate(
        """() => axe.run(document, {runOnly: {type: "tag",
             values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})"""
    )
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def shoot(page: Page, name: str, folder: Path) -> None:
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        await page.set_viewport_size(size)
        await page.screenshot(path=str(folder / f"{name}-{label}.png"), full_page=True)
        # Nothing sticks out sideways at phone width (WCAG 1.4.10, reflow).
        overflow = await page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} scrolls sideways at {size['width']} px"
    await page.set_viewport_size(DESKTOP)


async def test_sign_in_create_a_key_and_a_code(
    site: Site, browser: Browser, tmp_path: Path
) -> None:
    folder = SCREENSHOTS if os.environ.get("AUTAN_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    base = site.autan.base_url
    # axe-core is injected as an inline script, which the pages' CSP would refuse.
    context = await browser.new_context(viewport=DESKTOP, locale="fr-FR", bypass_csp=True)
    page = await context.new_page()
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)

    await page.goto(f"{base}/login")
    assert await serious_violations(page) == []
    await shoot(page, "login", folder)
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
    assert await serious_violations(page) == []
    await shoot(page, "admin-users", folder)
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
