"""The journey in a real browser (Debian's Chromium): save a Docs token, export a
conversation, "Envoyer vers Docs" for the conversation and for one answer, attach a Docs
document as context, translate a document, download it and delete it; a new conversation's
menus (its answer's and its own) come without a reload. Each page is checked with
axe-core and for sideways scrolling at 1440x900 and 375x812, and photographed; any script
error fails the test."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from docx import Document as DocxDocument
from playwright.async_api import Browser, FilePayload, Page, ViewportSize

from autan.llm.config import ModelConfig, ModelsConfig, ReplicaConfig
from tests.exports.conftest import seeded
from tests.support.browser import screenshot_folder, serious_violations
from tests.support.docs_server import FakeDocs, fake_docs
from tests.support.scripted_upstream import scripted_upstream
from tests.support.web import PASSWORD, PEOPLE, Site, run_site

pytestmark = pytest.mark.slow

WIDE = ViewportSize(width=1440, height=900)
PHONE = ViewportSize(width=375, height=812)
TOKEN = "jeton-docs-de-l-agent"


@pytest.fixture
async def docs() -> AsyncIterator[FakeDocs]:
    async with fake_docs() as running:
        running.tokens[TOKEN] = "agent"
        yield running


@pytest.fixture
async def site(tmp_path: Path, sqlite_databases: object, docs: FakeDocs) -> AsyncIterator[Site]:
    database_url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    async with scripted_upstream() as upstream:
        models = ModelsConfig(
            models=[ModelConfig(id="scripted", replicas=[ReplicaConfig(url=upstream)])]
        )
        async with run_site(tmp_path, database_url, models, docs={"url": docs.url}) as running:
            yield running


async def check(page: Page, name: str, folder: Path) -> None:
    """No serious axe-core violation, no sideways scrolling, a screenshot, at both sizes."""
    for label, size in (("desktop", WIDE), ("phone", PHONE)):
        await page.set_viewport_size(size)
        assert await serious_violations(page) == [], f"{name} at {label}"
        overflow = await page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} scrolls sideways at {size['width']} px"
        await page.screenshot(path=str(folder / f"{name}-{label}.png"))
    await page.set_viewport_size(WIDE)


async def test_send_to_docs_export_and_translate(
    site: Site, docs: FakeDocs, browser: Browser, tmp_path: Path
) -> None:
    folder = screenshot_folder(tmp_path)
    base = site.autan.base_url
    conversation = await seeded(site)
    note = docs.add("agent", "Note de service : accueil", "Le badge se retire au bureau 12.")
    context = await browser.new_context(
        viewport=WIDE, locale="fr-FR", accept_downloads=True, bypass_csp=True
    )
    page = await context.new_page()
    page.set_default_timeout(60_000)
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    await page.goto(f"{base}/login")
    await page.get_by_label("Adresse électronique").fill(PEOPLE["member_a"][0])
    await page.get_by_label("Mot de passe").fill(PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await page.wait_for_url(f"{base}/")

    # The personal Docs token, saved once and never shown again.
    await page.goto(f"{base}/settings/docs")
    await page.get_by_label("Jeton Docs", exact=True).fill(TOKEN)
    await page.get_by_role("button", name="Enregistrer le jeton").click()
    await page.get_by_text("Votre jeton Docs est enregistré").wait_for()
    await check(page, "docs-settings", folder)

    # Export: the conversation as a Word file, opened and checked.
    await page.goto(f"{base}/c/{conversation.id}")
    await page.locator("summary", has_text="Exporter").first.click()
    async with page.expect_download() as word:
        await page.get_by_role("link", name="Word (.docx)").click()
    document = DocxDocument(io.BytesIO(Path(await (await word.value).path()).read_bytes()))
    assert [c.text for c in document.tables[0].rows[1].cells] == ["Timbre fiscal", "86 €"]

    # "Envoyer vers Docs": one click, the new document's link.
    await page.get_by_role("button", name="Envoyer vers Docs").first.click()
    sent = page.locator("#conversation-docs-result a")
    await sent.wait_for()
    assert (await sent.get_attribute("href") or "").startswith(f"{docs.url}/docs/")
    await check(page, "docs-sent", folder)
    await page.keyboard.press("Escape")
    await page.locator("summary", has_text="Exporter").first.click()  # closes the menu
    answer = page.locator("article.message-assistant")
    await answer.get_by_role("button", name="Envoyer vers Docs").click()
    await answer.locator(".docs-result a").wait_for()
    assert len(docs.documents) == 3

    # A Docs document as context: picked from the person's own documents.
    await page.locator("summary", has_text="Documents Docs").click()
    await page.get_by_role("button", name="Note de service : accueil").click()
    await page.get_by_text("utilisé comme contexte").wait_for()
    await check(page, "docs-context", folder)
    assert any(c[1].endswith(f"{note.id}/formatted-content/") for c in docs.calls)

    # Translation: a Markdown file into English, downloaded in the same format.
    await page.get_by_role("link", name="Traduire", exact=True).click()
    await page.get_by_role("heading", name="Traduire un document").wait_for()
    await check(page, "translation-start", folder)
    await page.get_by_label("Document (.md, .docx, .odt)").set_input_files(
        files=FilePayload(
            name="accueil.md", mimeType="text/markdown", buffer=b"# Accueil\n\n- Badge\n- Charte\n"
        )
    )
    await page.get_by_label("Traduire en").select_option("en")
    await page.get_by_role("button", name="Traduire", exact=True).click()
    await page.get_by_role("link", name="Télécharger la traduction").wait_for()
    await check(page, "translation-done", folder)
    async with page.expect_download() as translated:
        await page.get_by_role("link", name="Télécharger la traduction").click()
    text = Path(await (await translated.value).path()).read_text()
    assert text.startswith("# ⟦English⟧ Accueil") and "- ⟦English⟧ Charte" in text

    # Deleted after asking: gone from the list, with its file and its translation.
    await page.get_by_role("link", name="Supprimer la traduction").click()
    await page.get_by_role("heading", name="Supprimer la traduction").wait_for()
    await check(page, "translation-delete", folder)
    await page.get_by_role("button", name="Supprimer", exact=True).click()
    await page.get_by_text("La traduction est supprimée.").wait_for()
    assert await page.get_by_role("link", name="accueil.md").count() == 0
    await check(page, "translation-deleted", folder)
    assert problems == []
    await context.close()


async def test_a_streamed_answer_is_exported_and_sent_to_docs_without_a_reload(
    site: Site, docs: FakeDocs, browser: Browser, tmp_path: Path
) -> None:
    folder = screenshot_folder(tmp_path)
    base = site.autan.base_url
    context = await browser.new_context(
        viewport=WIDE, locale="fr-FR", accept_downloads=True, bypass_csp=True
    )
    page = await context.new_page()
    page.set_default_timeout(60_000)
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    loads: list[str] = []
    page.on("load", lambda p: loads.append(p.url))
    await page.goto(f"{base}/login")
    await page.get_by_label("Adresse électronique").fill(PEOPLE["member_a"][0])
    await page.get_by_label("Mot de passe").fill(PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await page.wait_for_url(f"{base}/")
    await page.goto(f"{base}/settings/docs")
    await page.get_by_label("Jeton Docs", exact=True).fill(TOKEN)
    await page.get_by_role("button", name="Enregistrer le jeton").click()
    await page.get_by_text("Votre jeton Docs est enregistré").wait_for()
    await page.goto(f"{base}/")
    loads.clear()

    # An answer streams in: its export and Docs buttons come with its end, no reload.
    await page.get_by_label("Votre message").fill("Quelles pièces pour un passeport ?")
    await page.get_by_role("button", name="Envoyer").click()
    answer = page.locator("article.message-assistant").last
    await answer.get_by_text("Fin de la réponse").wait_for()
    await answer.locator("summary", has_text="Exporter cette réponse").click()
    async with page.expect_download() as markdown:
        await answer.get_by_role("link", name="Markdown").click()
    exported = Path(await (await markdown.value).path()).read_text()
    assert "Quelles pièces pour un passeport ?" in exported
    assert "Fin de la réponse" in exported
    await answer.locator("summary", has_text="Exporter cette réponse").click()  # closes it
    await answer.get_by_role("button", name="Envoyer vers Docs").click()
    link = answer.locator(".docs-result a")
    await link.wait_for()
    assert (await link.get_attribute("href") or "").startswith(f"{docs.url}/docs/")
    assert len(docs.documents) == 1

    # The conversation's own menus came with it too, its new id in their links.
    conversation_id = page.url.rsplit("/", 1)[1]
    assert page.url == f"{base}/c/{conversation_id}"
    toolbar = page.locator("#chat-actions")
    await toolbar.locator("summary", has_text="Exporter").click()
    word_link = toolbar.get_by_role("link", name="Word (.docx)")
    assert await word_link.get_attribute("href") == f"/c/{conversation_id}/export.docx"
    async with page.expect_download() as word:
        await word_link.click()
    document = DocxDocument(io.BytesIO(Path(await (await word.value).path()).read_bytes()))
    paragraphs = "\n".join(p.text for p in document.paragraphs)
    assert "Quelles pièces pour un passeport ?" in paragraphs
    assert "Fin de la réponse" in paragraphs
    await toolbar.get_by_role("button", name="Envoyer vers Docs").click()
    sent = toolbar.locator("#conversation-docs-result a")
    await sent.wait_for()
    assert (await sent.get_attribute("href") or "").startswith(f"{docs.url}/docs/")
    assert len(docs.documents) == 2
    await toolbar.locator("summary", has_text="Exporter").click()  # closes it
    await toolbar.locator("summary", has_text="Documents Docs").click()
    await toolbar.get_by_text("Aucun document Docs n'est joint à cette conversation.").wait_for()
    await toolbar.locator("summary", has_text="Documents Docs").click()  # closes it
    assert loads == []  # the page was never loaded again
    await check(page, "docs-streamed-answer", folder)
    assert problems == []
    await context.close()
