"""The everyday chat in Chromium (issue 17): a new conversation titled and filed at once,
the page following the answer, Stop before the first word, [n] linked to its source,
feedback in view, search by accent-free words. A scripted protocol-speaking model keeps it
fast: the model's wits are not the point here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page
from sqlalchemy import select

from autan.chat.models import Message
from tests.support.browser import PHONE, screenshot_folder
from tests.support.browser_visits import WIDE, shots, visit
from tests.support.chat_turns import scripted_site
from tests.support.library import database
from tests.support.scripted_upstream import TITLE
from tests.support.web import Site

pytestmark = pytest.mark.slow


@pytest.fixture
async def site(tmp_path: Path, sqlite_databases: object) -> AsyncIterator[Site]:
    database_url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    async with scripted_site(tmp_path, database_url) as running:
        yield running


async def uncovered(page: Page, selector: str) -> bool:
    """Whether the element, scrolled to, is the one under its own centre (nothing over it)."""
    return bool(
        await page.evaluate(
            """(selector) => {
                const element = document.querySelector(selector);
                const box = element.getBoundingClientRect();
                const x = box.left + box.width / 2, y = box.top + box.height / 2;
                if (y < 0 || y > window.innerHeight) return false;
                return element.contains(document.elementFromPoint(x, y));
            }""",
            selector,
        )
    )


async def cite_first_answer(site: Site) -> None:
    """Give the first answer a source, as a grounded answer has (the numbers the model cites)."""
    async with database(site) as session:
        answer = await session.scalar(select(Message).where(Message.role == "assistant"))
        assert answer is not None
        answer.sources = [
            {
                "number": 1,
                "document_id": None,
                "document_name": "circulaire-budget.pdf",
                "page": 3,
                "pages": "3",
                "headings": "Calendrier",
                "excerpt": "Le budget d'août est préparé en juin.",
            }
        ]
        await session.commit()


async def test_the_everyday_chat(site: Site, browser: Browser, tmp_path: Path) -> None:
    base = site.autan.base_url
    async with visit(browser, base, "member_a") as opened:
        await everyday_chat(site, opened.page, base, screenshot_folder(tmp_path))


async def everyday_chat(site: Site, page: Page, base: str, folder: Path) -> None:
    assert await page.locator("#chat-actions").is_hidden()

    # A first question: titled, filed under "Aujourd'hui" and offered Rename/Delete while
    # its answer is still being written.
    box = page.get_by_label("Votre message")
    await box.fill("Bonjour ! Comment préparer le budget d'août ? [slow]")
    await box.press("Enter")
    await page.get_by_role("heading", name="Comment préparer le budget d'août").wait_for()
    await page.get_by_text("Renommer").wait_for()
    assert await page.locator("[aria-busy=true]").count() == 1  # still writing
    # Its export menu too (closed), the new conversation's id in its links.
    markdown = page.locator("#chat-actions .export-links a", has_text="Markdown (.md)")
    assert await markdown.get_attribute("href") == f"/c/{page.url.rsplit('/', 1)[1]}/export.md"
    sidebar = page.locator("#conversation-list")
    assert await sidebar.get_by_text("Aujourd'hui").count() == 1

    # The page follows the answer; scrolled up, it offers the latest words instead.
    await page.locator("article.message-assistant .message-body li").nth(10).wait_for()
    await page.mouse.move(900, 300)
    await page.mouse.wheel(0, -2000)
    jump = page.get_by_role("button", name="Nouveaux mots ↓")
    await jump.wait_for()
    await page.screenshot(path=str(folder / "chat-following-desktop.png"))
    await jump.click()
    await jump.wait_for(state="hidden")
    await page.wait_for_function("() => !document.querySelector('[aria-busy=true]')")
    at_bottom = "() => innerHeight + scrollY >= document.scrollingElement.scrollHeight - 2"
    assert await page.evaluate(at_bottom)
    await page.get_by_role("heading", name=TITLE).wait_for()
    await sidebar.get_by_role("link", name=TITLE).wait_for()
    assert await sidebar.get_by_text("Aujourd'hui").count() == 1
    # The feedback buttons of the answer are in view, not under the composer.
    await page.get_by_role("button", name="Réponse utile").wait_for()
    assert await uncovered(page, "article.message-assistant form.feedback .thumb")

    # Reloaded, with a cited source: [1] links to it and opens its passage.
    await cite_first_answer(site)
    await page.reload()
    for size in (WIDE, PHONE):
        await page.set_viewport_size(size)
        await page.evaluate("() => scrollTo(0, document.scrollingElement.scrollHeight)")
        assert await uncovered(page, "article.message-assistant form.feedback .thumb")
    await page.set_viewport_size(WIDE)
    citation = page.locator("article.message-assistant a.citation").first
    assert await citation.get_attribute("aria-label") == "Source 1"
    await citation.click()
    await page.get_by_text("Le budget d'août est préparé en juin.").wait_for()
    await shots(page, folder, "chat-sources", "section.sources")

    # Stop before the first word: the question stays, answered "stopped", with a retry.
    await page.get_by_role("link", name="Nouvelle conversation").first.click()
    await page.wait_for_url(f"{base}/")
    await box.fill("Une question qui fait attendre [wait]")
    await box.press("Enter")
    await page.get_by_role("button", name="Arrêter").click()
    await page.locator("#messages").get_by_text("Réponse arrêtée.").wait_for()
    assert await page.locator("article.message-user").count() == 1
    await shots(page, folder, "chat-stopped")
    await page.get_by_role("button", name="Réessayer").click()
    await page.locator("article.message-assistant .message-body p").first.wait_for()
    await page.wait_for_function("() => !document.querySelector('[aria-busy=true]')")
    assert await page.locator("article.message-assistant").count() == 1
    assert await sidebar.get_by_text("Aujourd'hui").count() == 1

    # Search without accents finds the words with them, and shows where.
    await page.get_by_label("Rechercher dans mes conversations").fill("aout")
    await page.locator("#search-results mark").first.wait_for()
    assert "août" in (await page.locator("#search-results mark").first.inner_text()).lower()
    await shots(page, folder, "chat-search", "#search-results")

    # A temporary conversation streams and ends the same way (nothing is waited for).
    await page.get_by_role("link", name="Nouvelle conversation").first.click()
    await page.wait_for_url(f"{base}/")
    await page.get_by_label("Conversation temporaire").check()
    await box.fill("Une question sans trace")
    await box.press("Enter")
    await page.locator("article.message-assistant .message-body p").first.wait_for()
    await page.wait_for_function("() => !document.querySelector('[aria-busy=true]')")
    assert page.url == f"{base}/"
