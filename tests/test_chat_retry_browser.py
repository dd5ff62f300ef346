"""Retry in Chromium (issue 17): Stop before the first word, Stop mid-answer, and an upstream
that dies before its first word each leave the question with a Retry, also after a reload;
Retry answers the same question in the same conversation, which never shows it twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from tests.support.browser import screenshot_folder
from tests.support.browser_visits import shots, visit
from tests.support.chat_turns import scripted_site
from tests.support.web import Site

pytestmark = pytest.mark.slow
STOPPED_ACTIONS = "article.message-assistant >> nth=-1 >> .message-actions"


@pytest.fixture
async def site(tmp_path: Path, sqlite_databases: object) -> AsyncIterator[Site]:
    database_url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    async with scripted_site(tmp_path, database_url) as running:
        yield running


async def answered(page: Page, questions: int, whole: bool = False) -> None:
    """Wait for the answer to the `questions`-th question to end (`whole`: to its last word);
    the page shows each question once, each with one answer."""
    if whole:
        answer = page.locator("article.message-assistant").nth(questions - 1)
        await answer.get_by_text("Fin de la réponse").wait_for()
    await page.wait_for_function("() => !document.querySelector('[aria-busy=true]')")
    assert await page.locator("article.message-user").count() == questions
    assert await page.locator("article.message-assistant").count() == questions


async def test_retry_after_stop_or_failure(site: Site, browser: Browser, tmp_path: Path) -> None:
    base = site.autan.base_url
    async with visit(browser, base, "member_a") as opened:
        await retries(opened.page, base, screenshot_folder(tmp_path))


async def retries(page: Page, base: str, folder: Path) -> None:
    box = page.get_by_label("Votre message")
    latest = page.locator("article.message-assistant").last

    # Stop before the first word: the question stays, its answer "stopped", with a Retry.
    await box.fill("Quel est le calendrier du budget ? [wait]")
    await box.press("Enter")
    await page.get_by_role("button", name="Arrêter").click()
    await latest.get_by_text("Réponse arrêtée.").wait_for()
    await page.wait_for_url(f"{base}/c/*")
    await answered(page, 1)
    assert await latest.get_by_role("button", name="Réessayer").is_visible()
    await shots(page, folder, "chat-retry-stopped", "article.message-stopped")
    # Reloaded, the stored answer says the same.
    await page.reload()
    await latest.get_by_text("Réponse arrêtée.").wait_for()
    await latest.get_by_role("button", name="Réessayer").click()
    await answered(page, 1, whole=True)
    assert await page.get_by_text("Réponse arrêtée.").count() == 0

    # Stop mid-answer: the words written stay, with Copy and Retry.
    await box.fill("Un long exposé sur le budget [slow]")
    await box.press("Enter")
    await latest.locator(".message-body li").nth(3).wait_for()
    await page.get_by_role("button", name="Arrêter").click()
    await latest.get_by_text("Réponse arrêtée.").wait_for()
    await answered(page, 2)
    assert "Voici une réponse" in await latest.locator(".message-body").inner_text()
    # The last words, "Réponse arrêtée.", Copy and Retry, above the composer.
    await shots(page, folder, "chat-retry-stopped-mid-answer", STOPPED_ACTIONS)
    await shots(
        page, folder, "chat-retry-stopped-mid-answer", "article.message-assistant >> nth=-1"
    )
    assert await latest.get_by_role("button", name="Copier").is_visible()
    await latest.get_by_role("button", name="Réessayer").click()
    await answered(page, 2, whole=True)

    # An upstream that dies before its first word: said plainly, with a Retry, kept on reload.
    await box.fill("Une question malchanceuse [dead]")
    await box.press("Enter")
    await latest.get_by_role("alert").wait_for()
    await answered(page, 3)
    await shots(page, folder, "chat-retry-failed", "article.message-failed")
    # The dead replica is back at its next health check; a Retry before fails the same way.
    for _ in range(20):
        await page.reload()
        await latest.get_by_role("button", name="Réessayer").click()
        third = page.locator("article.message-assistant").nth(2)
        await third.get_by_text("Fin de la réponse").or_(third.get_by_role("alert")).wait_for()
        if await third.get_by_text("Fin de la réponse").count():
            break
    await answered(page, 3, whole=True)
    await page.reload()
    await answered(page, 3)
    assert await page.locator("article.message-failed, article.message-stopped").count() == 0
