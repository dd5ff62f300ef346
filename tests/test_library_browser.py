"""The prompt library, charter, settings and dashboards in a real browser, with axe-core."""

from __future__ import annotations

import json
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.support.browser import DESKTOP, check_page, screenshot_folder
from tests.support.library import add_conversation, database, queued_translation, user_by_email
from tests.support.web import PASSWORD, PEOPLE, Site, run_site

pytestmark = pytest.mark.slow


@pytest.fixture
async def site(tmp_path: Path, sqlite_databases: object) -> AsyncIterator[Site]:
    database_url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    async with run_site(tmp_path, database_url, accept_charter=False) as running:
        yield running


async def test_charter_prompts_export_and_erasure(
    site: Site, browser: Browser, tmp_path: Path
) -> None:
    folder = screenshot_folder(tmp_path)
    async with database(site) as session:
        member = await user_by_email(session, PEOPLE["ref_a"][0])
        await add_conversation(
            session,
            member,
            "Préparation du comité",
            [("Ordre du jour ?", "1. Budget")],
            rating=1,
            comment="Parfait",
        )
        # A translation too: the erasure page lists the kinds beyond the usual six it finds.
        session.add(queued_translation(member, "compte-rendu.md", b"# Compte rendu"))
        await session.commit()
    base = site.autan.base_url
    context = await browser.new_context(
        viewport=DESKTOP, locale="fr-FR", bypass_csp=True, accept_downloads=True
    )
    page = await context.new_page()

    # First sign-in: the charter comes first, whatever page was asked for.
    await page.goto(f"{base}/login")
    await page.get_by_label("Adresse électronique").fill(PEOPLE["ref_a"][0])
    await page.get_by_label("Mot de passe").fill(PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await page.wait_for_url(f"{base}/charter")
    await page.get_by_role("heading", name="Charte d'utilisation", exact=True).wait_for()
    await check_page(page, "charter", folder)
    await page.get_by_role("button", name="Accepter et continuer").click()
    # The box is required: the browser keeps the person on the page.
    assert page.url == f"{base}/charter"
    await page.get_by_label("J'ai lu la charte d'utilisation").check()
    await page.get_by_role("button", name="Accepter et continuer").click()
    await page.wait_for_url(f"{base}/")

    # The library: search, then save a template of one's own from a built-in one.
    await page.goto(f"{base}/prompts")
    await check_page(page, "prompts", folder)
    await page.get_by_label("Rechercher dans les modèles").fill("compte rendu")
    await page.wait_for_url("**/prompts?q=compte*")
    assert await page.locator(".prompt-card").count() == 1
    await page.get_by_role("link", name="Copier et adapter").click()
    await page.wait_for_url("**/prompts/new?start=builtin*")
    await check_page(page, "prompt-form", folder)
    title = page.get_by_label("Titre")
    await title.fill("")
    await page.evaluate("() => document.querySelector('form.card').noValidate = true")
    await page.get_by_role("button", name="Enregistrer le modèle").click()
    await page.get_by_role("alert").wait_for()
    assert "Donnez un titre au modèle." in (await page.get_by_role("alert").text_content() or "")
    assert await page.get_by_label("Titre").get_attribute("aria-invalid") == "true"
    body = await page.get_by_label("Texte du modèle").input_value()
    assert body.startswith("Rôle : tu es secrétaire de séance.")  # what was typed is kept
    await check_page(page, "prompt-form-error", folder)
    await page.get_by_label("Titre").fill("CR du comité de direction")
    await page.get_by_label("Toute mon organisation").check()
    await page.get_by_role("button", name="Enregistrer le modèle").click()
    await page.wait_for_url(f"{base}/prompts?saved=1")
    card = page.locator(".prompt-card", has_text="CR du comité de direction")
    assert "Partagé avec l'organisation" in (await card.text_content() or "")
    await card.get_by_role("link", name="Modifier").click()
    await page.wait_for_url("**/edit")
    await check_page(page, "prompt-edit", folder)
    await page.go_back()
    await card.get_by_role("link", name="Supprimer").click()
    await page.wait_for_url("**/delete")
    await check_page(page, "prompt-delete", folder)
    await page.go_back()
    use = card.get_by_role("link", name="Utiliser")
    href = await use.get_attribute("href")
    assert href is not None and href.startswith("/?prompt=")
    # "Use" opens the chat with the template in the message box.
    await use.click()
    await page.wait_for_url("**/?prompt=*")
    message = await page.locator("textarea#content").input_value()
    assert message.startswith("Rôle : tu es secrétaire de séance.")

    # Settings, export in both formats.
    await page.get_by_role("link", name="Paramètres").click()
    await page.wait_for_url(f"{base}/settings")
    await check_page(page, "settings", folder)
    async with page.expect_download() as json_download:
        await page.get_by_role("link", name="Télécharger en JSON").click()
    exported = json.loads(Path(await (await json_download.value).path()).read_text())
    assert exported["conversations"][0]["title"] == "Préparation du comité"
    async with page.expect_download() as zip_download:
        await page.get_by_role("link", name="Télécharger en fichiers Markdown").click()
    with zipfile.ZipFile(await (await zip_download.value).path()) as archive:
        assert archive.namelist()[0].endswith("preparation-du-comite.md")

    # The referent's dashboards and charter editor.
    for section in ("feedback", "usage", "charter"):
        await page.goto(f"{base}/admin/orgs/agri/{section}")
        await check_page(page, f"admin-{section}", folder)
    await page.goto(f"{base}/admin/orgs/agri/feedback")
    assert "Parfait" in await page.locator("main").inner_text()

    # Delete all my data: a wrong word is refused, the right one deletes and says what.
    await page.goto(f"{base}/settings/delete")
    await check_page(page, "delete", folder)
    await page.get_by_label("Pour confirmer, saisissez le mot SUPPRIMER").fill("oui")
    await page.get_by_role("button", name="Supprimer toutes mes données").click()
    await page.get_by_role("alert").wait_for()
    assert await page.get_by_label("Pour confirmer").input_value() == "oui"
    await page.get_by_label("Pour confirmer, saisissez le mot SUPPRIMER").fill("SUPPRIMER")
    await page.get_by_role("button", name="Supprimer toutes mes données").click()
    await page.get_by_text("Vos données ont été supprimées.").wait_for()
    table = await page.locator("table.counts").inner_text()
    assert "Conversations\t1" in table and "Modèles de prompts\t1" in table
    assert "Traductions\t1" in table and "Recherches approfondies" not in table
    await check_page(page, "delete-done", folder)
    await context.close()
