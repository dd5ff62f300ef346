"""Connecting a drive folder and following its sync, in a real browser (French), against a
real WebDAV server (wsgidav) and the real embedded models; axe-core on every page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.connectors.drive_journeys import APP_PASSWORD, SIZES, check
from tests.support.browser import screenshot_folder
from tests.support.web import PASSWORD, PEOPLE, Site
from tests.support.webdav_server import DavServer

pytestmark = pytest.mark.slow


async def test_a_member_connects_a_drive_folder_and_follows_its_sync(
    share_site: Site, browser: Browser, share_server: DavServer, tmp_path: Path
) -> None:
    folder = screenshot_folder(tmp_path)
    base = share_site.autan.base_url
    problems: list[str] = []
    context = await browser.new_context(viewport=SIZES["desktop"], locale="fr-FR", bypass_csp=True)
    page = await context.new_page()
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.set_default_timeout(120_000)
    await page.goto(f"{base}/login")
    await page.get_by_label("Adresse électronique").fill(PEOPLE["member_a"][0])
    await page.get_by_label("Mot de passe").fill(PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await page.wait_for_url(f"{base}/")

    await page.goto(f"{base}/collections")
    await page.get_by_label("Nom").fill("Démarches")
    await page.get_by_role("button", name="Créer la collection").click()
    await page.wait_for_url(re.compile(r".*/collections/[0-9a-f-]{36}$"))
    collection_url = page.url
    await page.get_by_role("link", name="Connecter un dossier de drive").click()
    await page.wait_for_url(f"{collection_url}/drive")

    # A wrong app password: said in French, what was typed is still there.
    await page.get_by_label("Adresse du dossier (WebDAV)").fill(share_server.url)
    await page.get_by_label("Nom d’utilisateur").fill("alice")
    await page.get_by_label("Mot de passe d’application").fill("ancien-mot-de-passe")
    await page.get_by_role("button", name="Connecter et synchroniser").click()
    alert = page.get_by_role("alert")
    assert "a refusé le nom d’utilisateur ou le mot de passe" in await alert.inner_text()
    assert await page.get_by_label("Adresse du dossier (WebDAV)").input_value() == share_server.url
    await check(page, "drive-connect-error", folder)

    # The files of the folder, to pick some; none ticked syncs the whole folder.
    await page.get_by_label("Mot de passe d’application").fill(APP_PASSWORD)
    await page.get_by_role("button", name="Voir les fichiers pour en choisir").click()
    await page.get_by_label("Procédures/permis.md").wait_for()
    assert await page.locator(".drive-files input[type=checkbox]").count() == 3
    await check(page, "drive-connect-pick", folder)
    await page.get_by_role("button", name="Connecter et synchroniser").click()
    await page.wait_for_url(re.compile(r".*\?done=drive$"))

    # The collection page follows the sync, then the reading of the files.
    state = page.locator("#drive-state")
    await state.get_by_text("À jour", exact=True).wait_for()
    assert "3 fichiers dans le dossier" in await state.inner_text()
    assert "3 ajoutés" in await state.inner_text()
    await page.reload()
    await page.wait_for_function(
        """() => document.querySelectorAll('#documents tr[data-status=ready]').length === 3"""
    )
    await state.get_by_text("À jour", exact=True).wait_for()
    await check(page, "drive-collection-state", folder)

    # A file changes at the source: "Synchroniser maintenant" brings the new version.
    (share_server.root / "Procédures" / "horaires.txt").write_text(
        "La mairie est ouverte du lundi au samedi, de 8 h 30 à 18 h.", encoding="utf-8"
    )
    await state.get_by_role("button", name="Synchroniser maintenant").click()
    await page.wait_for_url(re.compile(r".*\?done=sync$"))
    await page.locator("#drive-state", has_text="1 mis à jour").wait_for()

    # Disconnecting asks what becomes of the documents.
    await page.locator("#drive-state").get_by_role("link", name="Déconnecter le dossier").click()
    await page.wait_for_url(re.compile(r".*/drives/[0-9a-f-]{36}/revoke$"))
    await check(page, "drive-revoke", folder)
    await page.get_by_label("Les garder dans la collection").check()
    await page.get_by_role("button", name="Déconnecter le dossier").click()
    await page.wait_for_url(re.compile(r".*\?done=revoked$"))
    await page.get_by_role("link", name="Connecter un dossier de drive").wait_for()
    assert await page.locator("#documents tr[data-status=ready]").count() == 3
    assert problems == []
    await context.close()
