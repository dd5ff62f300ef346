"""Connecting a drive folder and following its sync, in a real browser (French), against a
real WebDAV server (wsgidav) and the real embedded models; axe-core on every page."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, ViewportSize

from autan.llm.config import ModelsConfig
from tests.support.browser import screenshot_folder, serious_violations
from tests.support.rag import FICHE_MD, OTHER_MD
from tests.support.web import PASSWORD, PEOPLE, Site, run_site
from tests.support.webdav_server import DavServer

pytestmark = pytest.mark.slow

SIZES = {
    "desktop": ViewportSize(width=1440, height=900),
    "phone": ViewportSize(width=375, height=812),
}
APP_PASSWORD = "mot-de-passe-application"


@pytest.fixture
def dav(tmp_path: Path) -> Iterator[DavServer]:
    root = tmp_path / "Partage"
    (root / "Procédures").mkdir(parents=True)
    (root / "carte-identite.md").write_text(FICHE_MD, encoding="utf-8")
    (root / "Procédures" / "permis.md").write_text(OTHER_MD, encoding="utf-8")
    (root / "Procédures" / "horaires.txt").write_text(
        "La mairie est ouverte du lundi au vendredi, de 9 h à 17 h.", encoding="utf-8"
    )
    with DavServer(root, APP_PASSWORD) as server:
        yield server


@pytest.fixture
async def site(
    tmp_path: Path, sqlite_databases: object, embedded_models: ModelsConfig, dav: DavServer
) -> AsyncIterator[Site]:
    database_url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    connectors = {"allowed_hosts": dav.host, "poll_interval": 0.2}
    async with run_site(tmp_path, database_url, embedded_models, connectors=connectors) as running:
        yield running


async def check(page: Page, name: str, folder: Path) -> None:
    """No serious axe-core violation, no sideways scrolling; a screenshot at both sizes."""
    for label, size in SIZES.items():
        await page.set_viewport_size(size)
        assert await serious_violations(page) == [], f"{name} at {label}"
        overflow = await page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} scrolls sideways at {label}"
        await page.screenshot(path=str(folder / f"{name}-{label}.png"), full_page=True)
    await page.set_viewport_size(SIZES["desktop"])


async def test_a_member_connects_a_drive_folder_and_follows_its_sync(
    site: Site, browser: Browser, dav: DavServer, tmp_path: Path
) -> None:
    folder = screenshot_folder(tmp_path)
    base = site.autan.base_url
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
    await page.get_by_label("Adresse du dossier (WebDAV)").fill(dav.url)
    await page.get_by_label("Nom d’utilisateur").fill("alice")
    await page.get_by_label("Mot de passe d’application").fill("ancien-mot-de-passe")
    await page.get_by_role("button", name="Connecter et synchroniser").click()
    alert = page.get_by_role("alert")
    assert "a refusé le nom d’utilisateur ou le mot de passe" in await alert.inner_text()
    assert await page.get_by_label("Adresse du dossier (WebDAV)").input_value() == dav.url
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
    (dav.root / "Procédures" / "horaires.txt").write_text(
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
