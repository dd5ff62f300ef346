"""The knowledge workspace in a real browser, with the real embedded models and axe-core:
a referent fills a collection with twenty files at once (one broken, one refused) and
publishes an assistant; a member uses it, opens a cited passage and the original file, and
attaches three files at once to a new conversation."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, FilePayload, Page
from sqlalchemy import select

from autan.core.db import create_engine, session_factory
from autan.documents.models import Document
from autan.llm.config import ModelsConfig
from tests.documents import files
from tests.support.browser import DESKTOP, check_page, screenshot_folder
from tests.support.web import PASSWORD, PEOPLE, Site, run_site

pytestmark = pytest.mark.slow

PRIME = (
    "# Note de service\n\n## Prime de fin d'année\n\n"
    "La prime de fin d'année des agents est versée le 15 décembre avec le traitement du mois. "
    "Son montant est de 450 euros pour un agent à temps plein.\n"
)


@pytest.fixture
async def site(
    tmp_path: Path, sqlite_databases: object, embedded_models: ModelsConfig
) -> AsyncIterator[Site]:
    database_url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    async with run_site(
        tmp_path, database_url, embedded_models, chat={"max_answer_tokens": 60}
    ) as running:
        yield running


def twenty_files() -> list[FilePayload]:
    """Mixed formats, one PDF that cannot be read, one format that is refused."""
    made = [
        ("guide.pdf", "application/pdf", files.make_pdf()),
        ("guide.docx", "application/octet-stream", files.make_docx()),
        ("guide.odt", "application/octet-stream", files.make_odt()),
        ("presentation.pptx", "application/octet-stream", files.make_pptx()),
        ("tableau.xlsx", "application/octet-stream", files.make_xlsx()),
        ("prime.md", "text/markdown", PRIME.encode()),
        ("page.html", "text/html", b"<html><body><h1>Accueil</h1><p>Horaires.</p></body></html>"),
        ("rapport-abime.pdf", "application/pdf", b"%PDF-1.7\n" + files.random_bytes(2000)),
        ("outil.exe", "application/octet-stream", b"MZ\x90\x00" + files.random_bytes(500)),
    ]
    for n in range(20 - len(made)):
        text = f"Consigne {n + 1} : le service {n + 1} ouvre à {8 + n % 3} heures.\n"
        made.append((f"consigne-{n + 1:02}.txt", "text/plain", text.encode()))
    return [{"name": name, "mimeType": kind, "buffer": data} for name, kind, data in made]


async def sign_in(browser: Browser, site: Site, who: str) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(viewport=DESKTOP, locale="fr-FR", bypass_csp=True)
    page = await context.new_page()
    page.set_default_timeout(180_000)  # real models on two shared cores
    await page.goto(f"{site.autan.base_url}/login")
    await page.get_by_label("Adresse électronique").fill(PEOPLE[who][0])
    await page.get_by_label("Mot de passe").fill(PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await page.wait_for_url(f"{site.autan.base_url}/")
    return context, page


async def conversation_files(site: Site) -> dict[object, list[str]]:
    engine = create_engine(site.autan.settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            rows = await session.execute(
                select(Document.conversation_id, Document.name).where(
                    Document.conversation_id.is_not(None)
                )
            )
            found: dict[object, list[str]] = {}
            for conversation, name in rows.all():
                found.setdefault(conversation, []).append(name)
            return found
    finally:
        await engine.dispose()


async def test_a_referent_publishes_a_grounded_assistant_that_a_member_uses(
    site: Site, browser: Browser, tmp_path: Path
) -> None:
    folder = screenshot_folder(tmp_path)
    base = site.autan.base_url
    problems: list[str] = []

    # The referent creates an organisation collection from the navigation.
    context, page = await sign_in(browser, site, "ref_a")
    page.on("pageerror", lambda e: problems.append(str(e)))
    await page.get_by_role("link", name="Connaissances").click()
    await page.wait_for_url(f"{base}/collections")
    await check_page(page, "collections-empty", folder)
    await page.get_by_label("Nom").fill("Notes de service")
    await page.get_by_label("Description (facultative)").fill("Les notes et guides de l'agence.")
    await page.get_by_label("Toute mon organisation").check()
    await page.get_by_role("button", name="Créer la collection").click()
    await page.wait_for_url(re.compile(r".*/collections/[0-9a-f-]{36}$"))
    collection_url = page.url

    # Twenty files at once: each has its own line, progress and state.
    await page.get_by_label("Fichiers").set_input_files(twenty_files())
    rows = page.locator("#upload-list li")
    await page.wait_for_function(
        "() => document.querySelectorAll('#upload-list li[data-status]').length === 20"
    )
    assert await rows.count() == 20
    refused = rows.filter(has_text="outil.exe")
    assert (
        "Refusé" in (await refused.inner_text())
        and "Formats acceptés" in await refused.inner_text()
    )
    assert await page.locator("#upload-list li[data-status=failed]").count() == 1
    # The table follows the reading of the 19 files kept, until each is ready or failed.
    await page.wait_for_function(
        """() => document.querySelectorAll('#documents tr[data-document]').length === 19 &&
                 !document.querySelector('#documents [data-status=queued],'
                   + '#documents [data-status=parsing], #documents [data-status=indexing]')""",
        timeout=600_000,
    )
    broken = page.locator("#documents tr", has_text="rapport-abime.pdf")
    assert "Illisible" in await broken.inner_text()
    assert await broken.locator(".doc-error").count() == 1
    assert await page.locator("#documents tr[data-status=ready]").count() == 18
    await check_page(page, "collection", folder)

    # Search inside the collection shows the passages, with the way to the original.
    await page.get_by_placeholder("Mots à rechercher").fill("montant de la prime")
    await page.get_by_role("button", name="Rechercher", exact=True).click()
    await page.wait_for_url("**?q=*")
    first = page.locator(".passage").first
    assert "450 euros" in await page.locator(".passages").inner_text()
    href = await first.get_by_role("link").first.get_attribute("href") or ""
    assert (await page.request.get(base + href.split("#")[0])).ok  # the original file
    await check_page(page, "collection-search", folder)

    # The assistant builder: a draft first, then published.
    await page.get_by_role("link", name="Assistants", exact=True).first.click()
    await page.wait_for_url(f"{base}/assistants")
    await page.get_by_role("link", name="Nouvel assistant").click()
    await page.wait_for_url(f"{base}/assistants/new")
    await page.get_by_label("Nom").fill("Assistant RH")
    await page.get_by_label("Description").fill("Répond sur les primes et les consignes.")
    await page.get_by_label("Instructions").fill("Réponds en français, en citant les sources.")
    await page.get_by_label("Notes de service").check()
    await page.get_by_label("Questions de départ").fill("Quel est le montant de la prime ?")
    await page.get_by_label("Publié : tous les membres de mon organisation").check()
    await check_page(page, "assistant-form", folder)
    await page.get_by_role("button", name="Enregistrer l'assistant").click()
    await page.wait_for_url("**/edit?saved=1")
    await page.get_by_text("L'assistant est enregistré.").wait_for()
    await page.goto(f"{base}/assistants")
    await check_page(page, "assistants", folder)
    await page.goto(f"{collection_url}/delete")
    await check_page(page, "collection-delete", folder)
    await context.close()

    # A member finds it in the gallery, from the chat, and asks its starter question.
    context, page = await sign_in(browser, site, "member_a")
    page.on("pageerror", lambda e: problems.append(str(e)))
    await page.get_by_role("link", name="Voir tous les assistants").click()
    await page.wait_for_url(f"{base}/assistants")
    await page.get_by_role("link", name="Quel est le montant de la prime ?").click()
    await page.wait_for_url("**/?assistant=*")
    assert await page.locator("#assistant option:checked").inner_text() == "Assistant RH"
    assert await page.get_by_label("Votre message").input_value() == (
        "Quel est le montant de la prime ?"
    )
    await page.get_by_role("button", name="Envoyer").click()
    await page.locator("article.message-assistant .sources").wait_for()
    await page.wait_for_function("() => !document.querySelector('[aria-busy=true]')")
    sources = page.locator("article.message-assistant .sources li")
    cited = sources.filter(has_text="prime.md")
    await cited.locator("summary").click()
    assert "450 euros" in await cited.locator("blockquote").inner_text()
    link = cited.get_by_role("link", name="Ouvrir le document d'origine")
    href = await link.get_attribute("href") or ""
    assert (await page.request.get(base + href.split("#")[0])).ok

    # Three files attached at once to a new conversation all land in that one conversation;
    # one is removed before sending.
    await page.goto(f"{base}/")
    trio = [
        {"name": f"piece-{n}.txt", "mimeType": "text/plain", "buffer": text.encode()}
        for n, text in enumerate(
            (
                "Le code de la porte est 4512.",
                "La salle de réunion est au deuxième étage.",
                "La cantine ferme à 14 heures.",
            ),
            1,
        )
    ]
    await page.locator("#attach").set_input_files(trio)  # type: ignore[arg-type]
    await page.wait_for_function(
        "() => [...document.querySelectorAll('#attachments li')]"
        ".filter(li => li.dataset.status === 'ready').length === 3"
    )
    await page.wait_for_url(f"{base}/c/**")
    by_conversation = await conversation_files(site)
    assert sorted(len(names) for names in by_conversation.values()) == [3]
    await page.get_by_role("button", name="Retirer piece-3.txt").click()
    await page.wait_for_function("() => document.querySelectorAll('#attachments li').length === 2")
    assert sorted(next(iter((await conversation_files(site)).values()))) == [
        "piece-1.txt",
        "piece-2.txt",
    ]
    await page.get_by_label("Votre message").fill("Résume les pièces jointes.")
    await page.get_by_role("button", name="Envoyer").click()
    await page.locator("article.message-assistant .sources").wait_for()
    used = await page.locator("article.message-assistant .sources").inner_text()
    assert "piece-1.txt" in used and "piece-2.txt" in used and "piece-3.txt" not in used
    await context.close()
    assert problems == []
