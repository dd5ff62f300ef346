"""Picking files of a connected drive folder from the composer, in a real browser (French):
one level at a time, then attached to the conversation and read, against a real WebDAV
server (wsgidav) and the real embedded models; axe-core and screenshots at both sizes; any
script error fails the test."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.connectors.drive_journeys import SIZES, check
from tests.connectors.test_drive_picker import connect, csrf_of
from tests.support.browser import screenshot_folder
from tests.support.web import PASSWORD, PEOPLE, Site
from tests.support.webdav_server import DavServer

pytestmark = pytest.mark.slow


async def test_a_member_attaches_files_picked_on_a_drive(
    share_site: Site, browser: Browser, share_server: DavServer, tmp_path: Path
) -> None:
    folder = screenshot_folder(tmp_path)
    base = share_site.autan.base_url
    async with share_site.signed_in("member_a") as client:
        await connect(client, csrf_of((await client.get("/")).text), share_server.url)
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
    await check(page, "drive-picker-folder", folder, in_view="#composer")

    # One level down, two files ticked, attached to a new conversation and read.
    await picker.get_by_role("button", name="Procédures/").click()
    await picker.get_by_label("permis.md").check()
    await picker.get_by_label("horaires.txt").check()
    await check(page, "drive-picker-subfolder", folder, in_view="#composer")
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
    await check(page, "drive-picker-attached", folder, in_view="#composer")

    # Asked about, the files are the conversation's (the page knows them after a reload).
    await page.reload()
    assert await page.locator("#attachments li").count() == 2
    assert problems == []
    await context.close()
