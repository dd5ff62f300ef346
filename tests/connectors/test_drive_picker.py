"""Files picked in a connected drive folder are attached to a conversation: browsed one level
at a time (names, sizes, dates) with the connecting person's app password, then downloaded
and attached through the chat's one attachment path (same limit, same errors, the same
ingestion). Against a real WebDAV server (wsgidav) and the real embedded models, both
engines. Bad input: another person's drive, a path leaving the folder, a file beyond the
upload limit, a format the chat does not read, an app password revoked at the source."""

from __future__ import annotations

import asyncio
import html
import os
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from autan.llm.config import ModelsConfig
from tests.connectors.drive_journeys import APP_PASSWORD
from tests.support.rag import FICHE_MD, OTHER_MD
from tests.support.web import Site, run_site
from tests.support.webdav_server import DavServer

pytestmark = pytest.mark.slow

BIG = 60 * 1024 * 1024  # beyond the 50 MiB upload limit (a sparse file: no disk used)


@pytest.fixture
def dav(tmp_path: Path) -> Iterator[DavServer]:
    root = tmp_path / "Partage"
    (root / "Procédures").mkdir(parents=True)
    (root / "carte-identite.md").write_text(FICHE_MD, encoding="utf-8")
    (root / "Procédures" / "permis.md").write_text(OTHER_MD, encoding="utf-8")
    (root / "photo.bin").write_bytes(b"\x00\x01 pas un document")
    with (root / "archive.md").open("wb") as big:
        big.truncate(BIG)
    os.utime(root / "carte-identite.md", (1_767_225_600, 1_767_225_600))  # 1 Jan 2026 00:00 UTC
    with DavServer(root, APP_PASSWORD) as server:
        yield server


@pytest.fixture
async def site(
    tmp_path: Path, database_url: str, embedded_models: ModelsConfig, dav: DavServer
) -> AsyncIterator[Site]:
    connectors = {"allowed_hosts": dav.host, "poll_interval": 0.2}
    async with run_site(tmp_path, database_url, embedded_models, connectors=connectors) as running:
        yield running


def csrf_of(page: str) -> dict[str, str]:
    found = re.search(r'data-csrf="([^"]+)"', page)
    assert found
    return {"X-CSRF-Token": found.group(1), "Accept": "application/json"}


async def connect(browser: httpx.AsyncClient, headers: dict[str, str], url: str) -> str:
    made = await browser.post(
        "/v1/collections", json={"name": "Partage", "visibility": "private"}, headers=headers
    )
    assert made.status_code == 201, made.text
    connected = await browser.post(
        "/api/drives",
        json={
            "collection_id": made.json()["id"],
            "url": url,
            "username": "alice",
            "password": APP_PASSWORD,
        },
        headers=headers,
    )
    assert connected.status_code == 201, connected.text
    return str(connected.json()["id"])


async def pick(
    browser: httpx.AsyncClient, headers: dict[str, str], drive: str, path: str, conversation: str
) -> httpx.Response:
    return await browser.post(
        "/chat/attachments/drive",
        data={"drive_id": drive, "path": path, "conversation_id": conversation},
        headers=headers,
    )


async def ready(browser: httpx.AsyncClient, document: str) -> dict[str, Any]:
    for _ in range(1200):
        state: dict[str, Any] = (await browser.get(f"/chat/attachments/{document}")).json()
        if state["status"] in ("ready", "failed"):
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"not read: {state}")


async def test_files_picked_on_a_drive_join_the_conversation(site: Site, dav: DavServer) -> None:
    async with site.signed_in("member_a") as browser:
        home = (await browser.get("/")).text
        assert 'id="drive-picker"' not in home  # no folder connected: nothing offered
        headers = csrf_of(home)
        drive = await connect(browser, headers, dav.url)
        assert 'id="drive-picker"' in (await browser.get("/")).text

        # The folder, one level: the sub-folder first, then files with sizes and dates.
        level = html.unescape((await browser.get("/drives/picker")).text)
        assert level.index("Procédures/") < level.index("archive.md") < level.index("photo.bin")
        assert "permis.md" not in level  # one level at a time
        assert "60 Mo" in level and "01/01/2026" in level
        inner = html.unescape(
            (
                await browser.get("/drives/picker", params={"drive": drive, "path": "Procédures/"})
            ).text
        )
        assert "permis.md" in inner and "carte-identite.md" not in inner
        assert "Remonter d'un niveau" in inner

        # The first file picked on a new page creates its conversation, like an upload.
        first = await pick(browser, headers, drive, "Procédures/permis.md", "")
        assert first.status_code == 201, first.text
        conversation = first.json()["conversation_id"]
        second = await pick(browser, headers, drive, "carte-identite.md", conversation)
        assert second.json()["conversation_id"] == conversation
        for answer in (first, second):
            state = await ready(browser, answer.json()["document"]["id"])
            assert state["status"] == "ready", state
        page = html.unescape((await browser.get(f"/c/{conversation}")).text)
        assert "permis.md" in page and "carte-identite.md" in page

        # Same limit and same words as an upload; a format the chat does not read.
        big = await pick(browser, headers, drive, "archive.md", conversation)
        assert big.status_code == 413 and big.json()["error"]["code"] == "file_too_large"
        assert big.json()["error"]["message"] == "Le fichier dépasse la limite de 50 Mo."
        odd = await pick(browser, headers, drive, "photo.bin", conversation)
        assert odd.status_code == 400, odd.text

        # Nothing outside the folder, nothing of anyone else.
        for path in ("../secret.md", "/etc/passwd", "Procédures/../../x.md"):
            outside = await pick(browser, headers, drive, path, conversation)
            assert outside.json()["error"]["code"] == "drive_folder_not_found", path
        away = await browser.get("/drives/picker", params={"drive": drive, "path": "../"})
        assert "Le dossier est introuvable sur le drive" in html.unescape(away.text)

        # The app password revoked at the source: said in plain words, in the menu.
        dav.set_password("un-autre")
        refused = html.unescape((await browser.get("/drives/picker")).text)
        assert "a refusé le nom d’utilisateur ou le mot de passe" in refused
        revoked = await pick(browser, headers, drive, "carte-identite.md", conversation)
        assert revoked.json()["error"]["code"] == "drive_unauthorized"

    # A referent of the same organisation (and anyone else) never browses it.
    for who in ("ref_a", "ref_b"):
        async with site.signed_in(who) as other:
            other_home = (await other.get("/")).text
            assert 'id="drive-picker"' not in other_home
            other_headers = csrf_of(other_home)
            assert (await other.get("/drives/picker", params={"drive": drive})).status_code == 404
            stolen = await pick(other, other_headers, drive, "carte-identite.md", "")
            assert stolen.status_code == 404, stolen.text
            assert stolen.json()["error"]["code"] == "drive_not_found"
