"""The chat in a real browser (Debian's Chromium) and axe-core, over the scripted model.

The page's journey (stream, stop, regenerate, edit, feedback, search, temporary turns) does
not depend on what the model says, so the in-process scripted model answers, at once or
word by word when asked `[slow]`; the real embedded model is `test_chat.py`'s subject."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page
from sqlalchemy import func, select

from autan.chat.models import Conversation, Feedback, Message
from autan.core.db import create_engine, session_factory
from autan.llm.config import ModelConfig, ModelsConfig, ReplicaConfig
from tests.support.browser import DESKTOP, PHONE, check_page, screenshot_folder
from tests.support.scripted_upstream import scripted_upstream
from tests.support.web import PASSWORD, PEOPLE, Site, run_site

pytestmark = pytest.mark.slow


@pytest.fixture
async def site(tmp_path: Path, sqlite_databases: object) -> AsyncIterator[Site]:
    database_url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    async with scripted_upstream() as upstream:
        models = ModelsConfig(
            models=[ModelConfig(id="scripted", replicas=[ReplicaConfig(url=upstream)])]
        )
        async with run_site(tmp_path, database_url, models, accept_charter=False) as running:
            yield running


async def rows(site: Site, table: type[object]) -> int:
    engine = create_engine(site.autan.settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            return int(await session.scalar(select(func.count()).select_from(table)) or 0)
    finally:
        await engine.dispose()


async def answer_done(page: Page, count: int) -> None:
    """Wait until `count` answers are on the page and none is still being written."""
    await page.locator("article.message-assistant").nth(count - 1).wait_for()
    await page.wait_for_function("() => !document.querySelector('[aria-busy=true]')")


async def test_a_day_with_the_assistant(site: Site, browser: Browser, tmp_path: Path) -> None:
    folder = screenshot_folder(tmp_path)
    base = site.autan.base_url
    context = await browser.new_context(viewport=DESKTOP, locale="fr-FR", bypass_csp=True)
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page = await context.new_page()
    page.set_default_timeout(60_000)
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))

    # Sign in, accept the charter, land on a new conversation.
    await page.goto(f"{base}/login")
    await page.get_by_label("Adresse électronique").fill(PEOPLE["member_a"][0])
    await page.get_by_label("Mot de passe").fill(PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await page.wait_for_url(f"{base}/charter")
    await page.get_by_role("checkbox").first.check()
    await page.get_by_role("button", name="Accepter et continuer").click()
    await page.wait_for_url(f"{base}/")
    await page.get_by_role("heading", name="Nouvelle conversation").wait_for()
    await check_page(page, "chat-new", folder, full_page=False)

    # A first question; the answer streams in, the URL and the sidebar follow.
    box = page.get_by_label("Votre message")
    await box.fill("Bonjour ! Donne trois conseils pour écrire un courriel clair.")
    await page.get_by_role("button", name="Envoyer").click()
    await answer_done(page, 1)
    await page.wait_for_url(f"{base}/c/**")
    first_answer = await page.locator("article.message-assistant .message-body").inner_text()
    assert first_answer.strip()
    assert await page.locator("#live").inner_text() != ""
    await page.wait_for_function(
        "() => document.querySelector('#chat-title').textContent !== 'Nouvelle conversation'"
    )
    conversation_url = page.url

    # Stop an answer midway (`[slow]`: the scripted model writes word by word): what was
    # written stays, marked as stopped.
    await box.fill("Écris un long poème sur la mer, strophe par strophe. [slow]")
    await box.press("Enter")
    await page.get_by_role("button", name="Arrêter").wait_for()
    await (
        page.locator("article.message-assistant")
        .nth(1)
        .locator(".message-body")
        .filter(has_text=re.compile(r"\w"))
        .or_(page.locator("article.message-assistant").nth(1).locator("p.status-note"))
        .first.wait_for()
    )
    await page.get_by_role("button", name="Arrêter").click()
    await page.get_by_text("Réponse arrêtée.").first.wait_for()

    # Another answer to the same question (a stopped answer offers to try again).
    await (
        page.locator("article.message-assistant")
        .nth(1)
        .get_by_role("button", name="Réessayer")
        .click()
    )
    await answer_done(page, 2)
    assert await page.locator("article.message").count() == 4

    # Edit the first question: everything after it is replaced by a new answer.
    await page.locator("article.message-user").first.get_by_role("button", name="Modifier").click()
    edit = page.get_by_label("Modifier votre message")
    await edit.fill("Quelle est la capitale de la France ?")
    await page.get_by_role("button", name="Envoyer le message modifié").click()
    await answer_done(page, 1)
    await page.wait_for_function("() => document.querySelectorAll('article.message').length === 2")

    # Feedback on the answer, with a comment.
    await page.get_by_role("button", name="Pas utile").click()
    await page.get_by_label("Commentaire (facultatif)").fill("Réponse trop vague")
    await page.get_by_role("button", name="Envoyer le commentaire").click()
    await page.get_by_text("Merci, votre avis est enregistré.").wait_for()
    assert await rows(site, Feedback) == 1

    # Rename, then find it by its title and by the words of a message.
    await page.goto(conversation_url)
    await page.get_by_text("Renommer").click()
    await page.get_by_label("Nouveau titre").fill("Capitale de la France")
    await page.get_by_role("button", name="Enregistrer le titre").click()
    await page.get_by_role("heading", name="Capitale de la France").wait_for()
    await page.get_by_label("Rechercher dans mes conversations").fill("capitale")
    await page.locator("#search-results a").first.wait_for()
    assert "Capitale de la France" in await page.locator("#search-results").inner_text()
    await check_page(page, "chat-conversation", folder, full_page=False)

    # A temporary conversation: answered, then nothing of it in the database.
    before = (await rows(site, Conversation), await rows(site, Message))
    await page.get_by_role("link", name="Nouvelle conversation").first.click()
    await page.get_by_label("Conversation temporaire").check()
    await page.get_by_text("rien n'est enregistré sur le serveur").wait_for()
    await box.fill("Ceci est un secret temporaire : 7781.")
    await page.get_by_role("button", name="Envoyer").click()
    await answer_done(page, 1)
    assert page.url == f"{base}/"
    await check_page(page, "chat-temporary", folder, full_page=False)
    assert (await rows(site, Conversation), await rows(site, Message)) == before

    # A prompt template fills the message box.
    await page.goto(f"{base}/prompts")
    await page.get_by_role("link", name="Utiliser").first.click()
    await page.wait_for_url(f"{base}/?prompt=*")
    assert "[[" in await box.input_value()

    # Delete the conversation.
    await page.goto(conversation_url)
    await page.get_by_text("Supprimer", exact=True).click()
    await page.get_by_role("button", name="Supprimer la conversation").click()
    await page.wait_for_url(f"{base}/")
    assert await rows(site, Conversation) == 0 and await rows(site, Message) == 0
    await context.close()
    assert problems == []


async def test_what_was_typed_survives_a_refusal(site: Site, browser: Browser) -> None:
    """A question refused before any answer (the model is unknown) stays in the box."""
    base = site.autan.base_url
    context = await browser.new_context(viewport=PHONE, locale="fr-FR")
    page = await context.new_page()
    page.set_default_timeout(60_000)
    await page.goto(f"{base}/login")
    await page.get_by_label("Adresse électronique").fill(PEOPLE["ref_a"][0])
    await page.get_by_label("Mot de passe").fill(PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await page.wait_for_url(f"{base}/charter")
    await page.get_by_role("checkbox").first.check()
    await page.get_by_role("button", name="Accepter et continuer").click()
    await page.wait_for_url(f"{base}/")
    # The model disappears from the list the page offers (as if removed from the deployment).
    await page.evaluate(
        "() => { const s = document.querySelector('#model'); s.options[0].value = 'gone'; }"
    )
    question = "Une question très importante que je ne veux pas retaper."
    await page.get_by_label("Votre message").fill(question)
    await page.get_by_role("button", name="Envoyer").click()
    alert = page.locator("#chat-error")
    await alert.wait_for()
    assert "modèle" in (await alert.inner_text()).lower()
    assert await page.get_by_label("Votre message").input_value() == question
    assert await page.locator("article.message").count() == 0
    await context.close()
