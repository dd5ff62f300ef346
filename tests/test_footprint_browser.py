"""Footprint and retention in a real browser: the cockpit's energy, the referent's rules, the
energy under an answer and the rule in the chat; axe, reflow and screenshots."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page
from sqlalchemy import update

from autan.chat.models import Message, MessageRole
from autan.devtools.demo import SeedPlan, seed
from autan.retention.models import RetentionRule
from tests.support.browser import DESKTOP, check_page, screenshot_folder
from tests.support.library import add_conversation, database, user_by_email
from tests.support.web import PASSWORD, PEOPLE, Site, run_site

pytestmark = pytest.mark.slow

IMPACTS = {
    "energy": {"min": 0.00031, "max": 0.00052, "unit": "kWh"},
    "gwp": {"min": 0.000018, "max": 0.000029, "unit": "kgCO2eq"},
}


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


async def test_footprint_and_retention_pages(site: Site, browser: Browser, tmp_path: Path) -> None:
    async with database(site) as session:
        await seed(session, SeedPlan("agri", users=80, requests=8_000, days=120))
        member = await user_by_email(session, PEOPLE["member_a"][0])
        session.add(RetentionRule(org_id=member.org_id, conversation_days=90, document_days=180))
        conversation = await add_conversation(
            session,
            member,
            "Délais d’une carte d’identité",
            [("Quel est le délai pour une carte d’identité ?", "Comptez deux à six semaines.")],
        )
        await session.execute(
            update(Message)
            .where(
                Message.conversation_id == conversation.id, Message.role == MessageRole.ASSISTANT
            )
            .values(impacts=IMPACTS)
        )
        await session.commit()
    folder = screenshot_folder(tmp_path)
    base = site.autan.base_url
    problems: list[str] = []
    context = await browser.new_context(viewport=DESKTOP, locale="fr-FR", bypass_csp=True)
    page = await context.new_page()
    page.on("pageerror", lambda e: problems.append(str(e)))
    await _sign_in(page, base, "ref_a")
    await page.goto(f"{base}/admin/orgs/agri/usage?days=90&by=week")
    section = page.locator("section.footprint")
    await section.get_by_role("heading", name="Énergie et CO₂ des réponses").wait_for()
    assert "km" in await section.inner_text()
    await section.scroll_into_view_if_needed()
    await check_page(page, "cockpit-footprint", folder)

    await page.goto(f"{base}/admin/orgs/agri/settings")
    # Out-of-bounds periods are refused by the server too (test_footprint_pages).
    await page.get_by_label(
        "Supprimer les conversations, traductions et recherches approfondies"
    ).fill("90")
    await page.get_by_role("button", name="Enregistrer les règles de conservation").click()
    await page.wait_for_url("**saved=1**")
    await page.locator("#retention").scroll_into_view_if_needed()
    await check_page(page, "settings-retention", folder)
    await context.close()

    context = await browser.new_context(viewport=DESKTOP, locale="fr-FR", bypass_csp=True)
    page = await context.new_page()
    page.on("pageerror", lambda e: problems.append(str(e)))
    await _sign_in(page, base, "member_a")
    await page.goto(f"{base}/c/{conversation.id}")
    note = page.locator("p.impacts")
    await note.wait_for()
    assert "Wh" in await note.inner_text()
    assert await page.get_by_text("Les conversations sont conservées 90 jours").count() == 1
    await check_page(page, "chat-impacts", folder, full_page=False)
    await context.close()
    assert problems == []
