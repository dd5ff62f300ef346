"""Picking files of a connected drive folder from the composer, in a real browser (French):
one level at a time, then attached to the conversation and read, against a real WebDAV
server (wsgidav) and the real embedded models; axe-core and screenshots at both sizes; any
script error fails the test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, ViewportSize

from autan.llm.config import ModelsConfig
from tests.connectors.test_drive_picker import APP_PASSWORD, connect, csrf_of
from tests.support.browser import screenshot_folder, serious_violations
from tests.support.rag import FICHE_MD, OTHER_MD
from tests.support.web import PASSWORD, PEOPLE, Site, run_site
from tests.support.webdav_server import DavServer

pytestmark = pytest.mark.slow

SIZES = {
    "desktop": ViewportSize(width=1440, height=900),
    "phone": ViewportSize(width=375, height=812),
}


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
        await page.locator("#composer").scroll_into_view_if_needed()
        await page.screenshot(path=str(folder / f"{name}-{label}.png"))
    await page.set_viewport_size(SIZES["desktop"])


async def test_a_member_attaches_files_picked_on_a_drive(
    site: Site, browser: Browser, dav: DavServer, tmp_path: Path
) -> None:
    folder = screenshot_folder(tmp_path)
    base = site.autan.base_url
    async with site.signed_in("member_a") as client:
        await connect(client, csrf_of((await client.get("/")).text), dav.url)
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

    # The attach menu offers the drive: its first level, sub-folders first.
    await page.locator("summary", has_text="Depuis mon espace de fichiers").click()
    picker = page.locator("#drive-picker")
    await picker.get_by_label("carte-identite.md").wait_for()
    await check(page, "drive-picker-folder", folder)

    # One level down, two files ticked, attached to a new conversation and read.
    await picker.get_by_role("button", name="Procédures/").click()
    await picker.get_by_label("permis.md").check()
    await picker.get_by_label("horaires.txt").check()
    await check(page, "drive-picker-subfolder", folder)
    await picker.get_by_role("button", name="Joindre les fichiers choisis").click()
    files = page.locator("#attachments li")
    await files.nth(1).wait_for()
    for n in range(2):
        await files.nth(n).locator(".attachment-state", has_text="Prêt").wait_for()
    assert sorted(await files.locator(".attachment-name").all_inner_texts()) == [
        "horaires.txt",
        "permis.md",
    ]
    await page.wait_for_url(f"{base}/c/**")
    await check(page, "drive-picker-attached", folder)

    # Asked about, the files are the conversation's (the page knows them after a reload).
    await page.reload()
    assert await page.locator("#attachments li").count() == 2
    assert problems == []
    await context.close()
