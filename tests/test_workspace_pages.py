"""The knowledge workspace's pages over HTTP, on both engines: collections, uploads, search,
the original file, the assistant builder and gallery; and who may see or change what."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from html import unescape
from pathlib import Path

import httpx
import pytest

from tests.support.simulated_models import simulated_models
from tests.support.web import PEOPLE, Site, run_site

NOTE = (
    "# Note de service\n\n## Prime de fin d'année\n\n"
    "La prime de fin d'année des agents est versée le 15 décembre avec le traitement.\n"
)


@pytest.fixture
async def site(tmp_path: Path, database_url: str) -> AsyncIterator[Site]:
    # Documents are embedded as they are read, searches too, by an in-process model that
    # speaks the protocol: these pages are about who sees what, not about the model's wits.
    async with simulated_models() as models, run_site(tmp_path, database_url, models) as running:
        yield running


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found
    return found.group(1)


async def create_collection(browser: httpx.AsyncClient, name: str, visibility: str) -> str:
    page = await browser.get("/collections")
    sent = await browser.post(
        "/collections",
        data={"csrf_token": csrf(page.text), "name": name, "visibility": visibility},
    )
    assert sent.status_code == 303, sent.text
    return sent.headers["location"].rsplit("/", 1)[-1]


async def upload(
    browser: httpx.AsyncClient, collection: str, name: str, data: bytes
) -> httpx.Response:
    page = await browser.get("/collections")
    return await browser.post(
        "/collections/upload",
        files={"file": (name, data)},
        data={"collection": collection},
        headers={"X-CSRF-Token": csrf(page.text), "Accept": "application/json"},
    )


async def wait_state(browser: httpx.AsyncClient, collection: str, document: str) -> str:
    for _ in range(200):
        fragment = (await browser.get(f"/collections/{collection}/documents")).text
        found = re.search(rf'data-document="{document}" data-status="(\w+)"', fragment)
        assert found, fragment
        if found.group(1) in ("ready", "failed"):
            return found.group(1)
        await asyncio.sleep(0.1)
    raise AssertionError("the document was never read")


async def test_a_referent_fills_a_collection_that_members_search(site: Site) -> None:
    async with site.signed_in("ref_a") as referent:
        listing = await referent.get("/collections")
        assert "Nouvelle collection" in listing.text and "Tout le monde" not in listing.text
        # A mistake keeps what was typed and says what to fix, in French.
        page = await referent.post(
            "/collections",
            data={"csrf_token": csrf(listing.text), "name": " ", "description": "Les notes"},
        )
        assert page.status_code == 400 and "Donnez un nom à la collection." in page.text
        assert "Les notes" in page.text
        refused = await referent.post(
            "/collections",
            data={"csrf_token": csrf(listing.text), "name": "X", "visibility": "public"},
        )
        assert refused.status_code == 403
        collection = await create_collection(referent, "Notes de service", "organisation")

        sent = await upload(referent, collection, "note.md", NOTE.encode())
        assert sent.status_code == 201, sent.text
        assert sent.json()["label"] == "En attente de lecture"
        again = await upload(referent, collection, "copie.md", NOTE.encode())
        assert again.status_code == 200 and again.json()["known"] is True
        broken = await upload(referent, collection, "photo.exe", b"MZ\x90\x00binary")
        assert broken.status_code == 400
        assert "format" in broken.json()["error"]["message"].lower()
        document = sent.json()["id"]
        assert await wait_state(referent, collection, document) == "ready"

        found = await referent.get(f"/collections/{collection}", params={"q": "prime décembre"})
        assert "1 passage trouvé" in found.text and "versée le 15 décembre" in found.text
        original = await referent.get(f"/documents/{document}/file")
        assert original.status_code == 200 and original.content == NOTE.encode()
        assert original.headers["content-disposition"].startswith("attachment")

        reread = await referent.post(
            f"/documents/{document}/reingest", data={"csrf_token": csrf(found.text)}
        )
        assert reread.status_code == 303
        assert await wait_state(referent, collection, document) == "ready"

    async with site.signed_in("member_a") as member:
        page = await member.get(f"/collections/{collection}")
        assert page.status_code == 200 and "Notes de service" in page.text
        assert "Ajouter des documents" not in page.text  # read only for a member
        token = csrf(page.text)
        assert (await member.get(f"/documents/{document}/file")).status_code == 200
        for path in (f"/collections/{collection}/delete", f"/documents/{document}/delete"):
            assert (await member.post(path, data={"csrf_token": token})).status_code == 403
        assert (await upload(member, collection, "n.md", b"# autre")).status_code == 403

    async with site.signed_in("ref_a") as referent:
        page = await referent.get(f"/collections/{collection}/delete")
        assert "1 document" in page.text
        gone = await referent.post(
            f"/collections/{collection}/delete", data={"csrf_token": csrf(page.text)}
        )
        assert gone.status_code == 303 and gone.headers["location"] == "/collections?deleted=1"
        assert (await referent.get(f"/collections/{collection}")).status_code == 404


async def test_nobody_reaches_a_private_collection_or_another_organisation(site: Site) -> None:
    async with site.signed_in("member_a") as member:
        private = await create_collection(member, "Mes brouillons", "private")
        sent = await upload(member, private, "brouillon.txt", b"Texte confidentiel du membre.")
        document = sent.json()["id"]
    async with site.signed_in("ref_a") as referent:
        shared = await create_collection(referent, "Partagée agri", "organisation")
    for outsider, targets in (("ref_a", [private]), ("ref_b", [private, shared])):
        async with site.signed_in(outsider) as other:
            listing = await other.get("/collections")
            assert "Mes brouillons" not in listing.text
            token = csrf(listing.text)
            for collection in targets:
                for path in (
                    f"/collections/{collection}",
                    f"/collections/{collection}/documents",
                    f"/collections/{collection}/delete",
                ):
                    assert (await other.get(path)).status_code == 404, (outsider, path)
                deleted = await other.post(
                    f"/collections/{collection}/delete", data={"csrf_token": token}
                )
                assert deleted.status_code == 404
                assert (await upload(other, collection, "x.md", b"# x")).status_code == 404
            assert (await other.get(f"/documents/{document}/file")).status_code == 404
            for action in ("reingest", "delete"):
                done = await other.post(
                    f"/documents/{document}/{action}", data={"csrf_token": token}
                )
                assert done.status_code == 404, (outsider, action)


async def test_a_referent_builds_and_publishes_an_assistant(site: Site) -> None:
    async with site.signed_in("ref_a") as referent:
        collection = await create_collection(referent, "Guides RH", "organisation")
        page = await referent.get("/assistants/new")
        assert page.status_code == 200 and "Questions de départ" in page.text
        fields = {
            "csrf_token": csrf(page.text),
            "name": "",
            "description": "Répond aux questions RH.",
            "instructions": "Réponds en citant le guide.",
            "model": "",
            "collections": collection,
            "starters": "Combien de jours de télétravail ?\nQuand la prime est-elle versée ?",
            "audience": "managers",
        }
        wrong = await referent.post("/assistants/new", data=fields)
        assert wrong.status_code == 400 and "Donnez un nom à l'assistant." in unescape(wrong.text)
        assert "Réponds en citant le guide." in wrong.text  # what was typed stays
        made = await referent.post("/assistants/new", data=fields | {"name": "Assistant RH"})
        assert made.status_code == 303, made.text
        edit = made.headers["location"].split("?")[0]
        assistant = edit.split("/")[2]
        gallery = await referent.get("/assistants")
        assert "Assistant RH" in gallery.text and "Brouillon" in gallery.text

    async with site.signed_in("member_a") as member:
        assert "Assistant RH" not in (await member.get("/assistants")).text  # a draft
        assert "Assistant RH" not in (await member.get("/")).text
        assert (await member.get("/assistants/new")).status_code == 403
        assert (await member.get(edit)).status_code == 403

    async with site.signed_in("ref_a") as referent:
        page = await referent.get(edit)
        assert f'value="{collection}" checked' in page.text
        published = await referent.post(
            edit,
            data=fields
            | {"name": "Assistant RH", "audience": "organisation", "csrf_token": csrf(page.text)},
        )
        assert published.status_code == 303

    async with site.signed_in("member_a") as member:
        gallery = await member.get("/assistants")
        assert "Assistant RH" in gallery.text and "Modifier" not in gallery.text
        chat = await member.get("/", params={"assistant": assistant})
        assert f'value="{assistant}" data-description="Répond aux questions RH." selected' in (
            chat.text
        )
        assert "Quand la prime est-elle versée ?" in chat.text  # starter questions

    async with site.signed_in("ref_b") as outsider:
        assert "Assistant RH" not in (await outsider.get("/assistants")).text
        assert (await outsider.get(edit)).status_code == 404
        token = csrf((await outsider.get("/assistants")).text)
        for path in (edit, f"/assistants/{assistant}/delete"):
            assert (await outsider.post(path, data={"csrf_token": token})).status_code == 404
    assert PEOPLE["ref_b"][2] == "culture"
