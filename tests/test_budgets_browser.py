"""Budgets in a real browser: the referent's alert banner, the cockpit's meter and the
settings form, with axe, reflow and screenshots (desktop and phone)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from autan.budgets.models import WHOLE_ORG, Budget, BudgetAlert
from autan.budgets.service import month_start, month_tokens
from autan.devtools.demo import SeedPlan, seed
from tests.support.browser import DESKTOP, check_page, screenshot_folder
from tests.support.library import database, user_by_email
from tests.support.web import PASSWORD, PEOPLE, Site, run_site

pytestmark = pytest.mark.slow


@pytest.fixture
async def site(tmp_path: Path, sqlite_databases: object) -> AsyncIterator[Site]:
    database_url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    async with run_site(tmp_path, database_url) as running:
        yield running


async def _sign_in(page: Page, base: str, who: str) -> None:
    await page.goto(f"{base}/login")
    await page.get_by_label("Adresse électronique").fill(PEOPLE[who][0])
    await page.get_by_label("Mot de passe").fill(PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await page.wait_for_url(f"{base}/")


async def test_the_budget_meter_and_alert(site: Site, browser: Browser, tmp_path: Path) -> None:
    month = month_start(datetime.now(UTC).date())
    async with database(site) as session:
        await seed(session, SeedPlan("agri", users=80, requests=8_000, days=120))
        member = await user_by_email(session, PEOPLE["member_a"][0])
        spent = await month_tokens(session, member.org_id, month)
        used = sum(spent.values())
        assert used > 0
        # 86 % of the organisation's budget, 40 % of the referents' budget.
        session.add(Budget(org_id=member.org_id, role=WHOLE_ORG, tokens_per_month=used * 100 // 86))
        referents = max(spent["referent"] * 100 // 40, 1)
        session.add(Budget(org_id=member.org_id, role="referent", tokens_per_month=referents))
        session.add(BudgetAlert(org_id=member.org_id, month=month, role=WHOLE_ORG, threshold=80))
        await session.commit()
    folder = screenshot_folder(tmp_path)
    base = site.autan.base_url
    problems: list[str] = []
    context = await browser.new_context(viewport=DESKTOP, locale="fr-FR", bypass_csp=True)
    page = await context.new_page()
    page.on("pageerror", lambda e: problems.append(str(e)))
    await _sign_in(page, base, "ref_a")
    await page.goto(f"{base}/admin/orgs/agri/usage")
    banner = page.locator("#budget-alert")
    assert "presque épuisé" in await banner.inner_text()
    assert await banner.get_attribute("role") == "status"
    meter = page.get_by_role("meter", name="Budget de l’organisation")
    assert await meter.count() == 1
    assert int(await meter.get_attribute("max") or 0) == used * 100 // 86
    figures = await page.locator("#budget-1-figures").inner_text()
    assert "(86 %)" in figures and "jetons utilisés" in figures
    await check_page(page, "cockpit-budget", folder)

    await page.goto(f"{base}/admin/orgs/agri/settings#budgets")
    await page.locator("#budgets").scroll_into_view_if_needed()
    assert "fixés par un administrateur" in await page.locator("form.quota").first.inner_text()
    await page.get_by_label("Jetons par mois").first.fill(str(10**12))
    await page.get_by_role("button", name="Enregistrer ce budget").first.click()
    await page.locator(".alert-error").wait_for()
    assert "ne peut pas dépasser" in await page.locator(".alert-error").inner_text()
    assert await page.get_by_label("Jetons par mois").first.input_value() == str(10**12)
    await page.locator("#budgets").scroll_into_view_if_needed()
    await check_page(page, "settings-budgets", folder)
    await context.close()
    assert problems == []
