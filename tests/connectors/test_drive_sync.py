"""A WebDAV folder synced into a collection, against real drives on loopback, both engines.

wsgidav serves a real folder; the real server runs the real worker, the embedded e5 model
and the sync schedule. Bad input: wrong address, wrong password, an address that may not be
reached, a file changed during its download, a revoked app password, a folder that
disappears, a 2 GB file, a drive answering 500.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from autan.accounts.models import Role
from autan.connectors.models import DriveConnection
from autan.connectors.settings import ConnectorSettings
from autan.core.db import create_engine, session_factory
from autan.llm.config import ModelsConfig
from autan.settings import Settings
from tests.conftest import make_settings, serve_autan
from tests.support.rag import FICHE_MD, OTHER_MD, add_user, client_for, new_collection
from tests.support.webdav_server import DavServer, StubDrive

pytestmark = pytest.mark.slow

PASSWORD = "app-password"


def drive_settings(settings: Settings, *hosts: str) -> Settings:
    connectors = ConnectorSettings(allowed_hosts=",".join(hosts), poll_interval=0.1)
    documents = settings.documents.model_copy(update={"poll_interval": 0.2})
    return settings.model_copy(update={"connectors": connectors, "documents": documents})


def write(path: Path, text: str, stamp: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    os.utime(path, (stamp, stamp))  # a new ETag even within the same second


async def wait_sync(client: httpx.AsyncClient, drive: str, after: int | None) -> Any:
    """Poll a connection until a sync newer than `after` is recorded and its files are read."""
    for _ in range(600):
        state = (await client.get(f"/api/drives/{drive}")).json()
        done = state["last_sync_at"] is not None and not state["syncing"]
        if done and not state["sync_requested"] and (after is None or state["syncs"] != after):
            docs = (
                await client.get("/v1/documents", params={"collection": state["collection_id"]})
            ).json()["data"]
            if all(d["status"] in ("ready", "failed") for d in docs):
                return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"no sync recorded: {state}")


async def names(client: httpx.AsyncClient, collection: str) -> list[str]:
    docs = (await client.get("/v1/documents", params={"collection": collection})).json()["data"]
    return sorted(d["name"] for d in docs)


async def stored_secret(database_url: str, drive: str) -> str:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            secret = await session.scalar(
                select(DriveConnection.secret).where(DriveConnection.id == uuid.UUID(drive))
            )
            return str(secret)
    finally:
        await engine.dispose()


async def test_folder_sync_and_bad_input(
    tmp_path: Path, database_url: str, embedded_models: ModelsConfig
) -> None:
    root = tmp_path / "drive"
    write(root / "carte.md", FICHE_MD, 1_000)
    write(root / "sous-dossier/permis.md", OTHER_MD, 1_000)
    write(root / "photo.bin", "not a document", 1_000)
    with DavServer(root, PASSWORD) as dav:
        settings = drive_settings(make_settings(tmp_path, database_url, embedded_models), dav.host)
        async with serve_autan(settings) as autan, autan.client() as client:
            collection = await new_collection(client)
            folder = {"collection_id": collection, "url": dav.url, "username": "alice"}

            # Refused in plain words before anything is stored.
            wrong = await client.post("/api/drives", json={**folder, "password": "nope"})
            assert (
                wrong.status_code == 400 and wrong.json()["error"]["code"] == "drive_unauthorized"
            )
            missing = await client.post(
                "/api/drives", json={**folder, "url": dav.url + "absent/", "password": PASSWORD}
            )
            assert missing.json()["error"]["code"] == "drive_folder_not_found", missing.text
            private = await client.post(
                "/api/drives",
                json={**folder, "url": "http://127.0.0.1:9/dav/", "password": PASSWORD},
            )
            assert private.json()["error"]["code"] == "drive_address_refused", private.text
            assert private.json()["error"]["message"].startswith("The drive at 127.0.0.1")
            garbage = await client.post(
                "/api/drives", json={**folder, "url": "ftp://example.org/x", "password": PASSWORD}
            )
            assert garbage.json()["error"]["code"] == "drive_bad_url", garbage.text

            # Picking: the readable files of the folder, nothing stored.
            listed = await client.post(
                "/api/drives/browse",
                json={"url": dav.url, "username": "alice", "password": PASSWORD},
            )
            assert [f["path"] for f in listed.json()["data"]] == [
                "carte.md",
                "sous-dossier/permis.md",
            ]

            made = await client.post("/api/drives", json={**folder, "password": PASSWORD})
            assert made.status_code == 201, made.text
            drive = made.json()["id"]
            assert PASSWORD not in made.text
            secret = await stored_secret(database_url, drive)
            assert PASSWORD not in secret and secret.startswith("gAAAA")  # Fernet
            again = await client.post("/api/drives", json={**folder, "password": PASSWORD})
            assert again.json()["error"]["code"] == "drive_already_connected"

            state = await wait_sync(client, drive, None)
            assert state["last_outcome"] == "ok", state
            assert state["files"] == {
                "seen": 2,
                "added": 2,
                "updated": 0,
                "removed": 0,
                "failed": 0,
            }
            assert await names(client, collection) == ["carte.md", "permis.md"]

            # Changed, removed, added: only those are touched.
            write(root / "carte.md", FICHE_MD + "\nNouveau : la pré-demande en ligne.\n", 2_000)
            (root / "sous-dossier/permis.md").unlink()
            write(root / "nouveau.txt", "Horaires d'ouverture de la mairie : 9 h - 17 h.", 2_000)
            state = await sync_now(client, drive)
            assert state["files"] == {
                "seen": 2,
                "added": 1,
                "updated": 1,
                "removed": 1,
                "failed": 0,
            }
            assert await names(client, collection) == ["carte.md", "nouveau.txt"]
            docs = (await client.get("/v1/documents", params={"collection": collection})).json()
            carte = next(d for d in docs["data"] if d["name"] == "carte.md")
            chunks = (await client.get(f"/v1/chunks/{carte['id']}")).json()["data"]
            assert any("pré-demande" in c["content"] for c in chunks)

            # Nothing changed: nothing is downloaded again.
            state = await sync_now(client, drive)
            assert state["files"] == {
                "seen": 2,
                "added": 0,
                "updated": 0,
                "removed": 0,
                "failed": 0,
            }

            # A file saved again while it is being downloaded: not ingested, retried next time.
            write(root / "agenda.md", "# Agenda\n\nConseil municipal le 12 mars.", 3_000)
            dav.after_get["agenda.md"] = lambda p: write(
                p, "# Agenda\n\nReporté au 19 mars.", 3_100
            )
            state = await sync_now(client, drive)
            assert state["last_outcome"] == "partial" and state["files"]["failed"] == 1, state
            assert state["failed_files"][0]["path"] == "agenda.md"
            assert "changed while it was being downloaded" in state["failed_files"][0]["error"]
            assert "agenda.md" not in await names(client, collection)
            del dav.after_get["agenda.md"]
            state = await sync_now(client, drive)
            assert state["last_outcome"] == "ok" and state["files"]["added"] == 1, state
            assert "agenda.md" in await names(client, collection)

            # The app password revoked at the source: said in plain words, nothing deleted.
            dav.set_password("another")
            state = await sync_now(client, drive)
            assert state["last_outcome"] == "failed", state
            assert "refused the user name or app password" in state["last_error"]
            assert await names(client, collection) == ["agenda.md", "carte.md", "nouveau.txt"]
            # A new app password given: tried, sealed, and the folder syncs again.
            wrong = await client.post(f"/api/drives/{drive}/reconnect", json={"password": "x"})
            assert wrong.json()["error"]["code"] == "drive_unauthorized", wrong.text
            renewed = await client.post(
                f"/api/drives/{drive}/reconnect", json={"password": "another"}
            )
            assert renewed.status_code == 200 and "another" not in renewed.text, renewed.text
            state = await wait_sync(client, drive, state["syncs"])
            assert state["last_outcome"] == "ok", state

            # The folder disappears (moved away): said, and the documents are kept.
            root.rename(tmp_path / "moved")
            state = await sync_now(client, drive)
            assert state["last_outcome"] == "failed" and "not found" in state["last_error"]
            assert len(await names(client, collection)) == 3
            (tmp_path / "moved").rename(root)

            # Someone of another organisation, and a member who does not manage it: not found.
            outsider = await add_user(database_url, "x@other.example", Role.REFERENT, org="autre")
            async with client_for(autan.base_url, outsider) as other:
                assert (await other.get(f"/api/drives/{drive}")).status_code == 404
                assert (await other.post(f"/api/drives/{drive}/sync")).status_code == 404
                reconnect = await other.post(
                    f"/api/drives/{drive}/reconnect", json={"password": "stolen"}
                )
                assert reconnect.status_code == 404, reconnect.text
                assert (await other.delete(f"/api/drives/{drive}")).status_code == 404
                assert (await other.get("/api/drives")).json()["data"] == []

            # Disconnect and delete what the folder brought.
            gone = await client.delete(f"/api/drives/{drive}", params={"keep_documents": "false"})
            assert gone.status_code == 204
            assert (await client.get(f"/api/drives/{drive}")).status_code == 404
            assert await names(client, collection) == []


async def sync_now(client: httpx.AsyncClient, drive: str) -> Any:
    before = (await client.get(f"/api/drives/{drive}")).json()["syncs"]
    asked = await client.post(f"/api/drives/{drive}/sync")
    assert asked.status_code == 202, asked.text
    return await wait_sync(client, drive, before)


async def test_huge_file_and_server_error(
    tmp_path: Path, database_url: str, embedded_models: ModelsConfig
) -> None:
    stub = StubDrive()
    await stub.start()
    try:
        settings = drive_settings(make_settings(tmp_path, database_url, embedded_models), stub.host)
        async with serve_autan(settings) as autan, autan.client() as client:
            collection = await new_collection(client)
            # A redirect is checked like the first address: not to a host that is not allowed.
            moved = await client.post(
                "/api/drives",
                json={
                    "collection_id": collection,
                    "url": stub.url.replace("/drive/", "/moved/"),
                    "username": "alice",
                    "password": PASSWORD,
                },
            )
            assert moved.json()["error"]["code"] == "drive_address_refused", moved.text
            assert "127.0.0.2" in moved.json()["error"]["message"]
            made = await client.post(
                "/api/drives",
                json={
                    "collection_id": collection,
                    "url": stub.url,
                    "username": "alice",
                    "password": PASSWORD,
                },
            )
            assert made.status_code == 201, made.text
            drive = made.json()["id"]
            state = await wait_sync(client, drive, None)
            assert state["last_outcome"] == "partial", state
            # One refused on its listed size (never asked for), one on its Content-Length.
            assert [f["path"] for f in state["failed_files"]] == ["huge.pdf", "liar.pdf"]
            assert all("larger than the 50 MB limit" in f["error"] for f in state["failed_files"])
            assert stub.sent_bytes < 64 * 1024 * 1024
            incoming = settings.data_dir / "files" / "incoming"
            assert not incoming.exists() or not any(incoming.iterdir())

            stub.failing = True
            state = await sync_now(client, drive)
            assert state["last_outcome"] == "failed"
            assert "answered with an error (HTTP 500)" in state["last_error"], state
            assert await names(client, collection) == []
    finally:
        await stub.stop()
