"""Permissions and validation of every RAG route: what others may not see is "not found"."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from autan.accounts.models import Role
from autan.llm.config import ModelConfig, ModelsConfig, ReplicaConfig
from tests.conftest import ENGINES, RunningAutan, make_settings, serve_autan
from tests.support.rag import FICHE_MD, add_user, client_for, new_collection, upload

PASSWORD = "correct horse battery staple"
# No model needs to answer: these tests are about who may do what.
MODELS = ModelsConfig(
    models=[ModelConfig(id="m", replicas=[ReplicaConfig(url="http://127.0.0.1:9/v1")])]
)


@dataclass
class World:
    autan: RunningAutan
    keys: dict[str, str]
    alice_private: str
    alice_document: str
    culture_org: str
    culture_document: str

    def client(self, who: str) -> httpx.AsyncClient:
        return client_for(self.autan.base_url, self.keys[who])


@pytest.fixture(scope="module", params=ENGINES)
def world_database(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_databases").new()
    return url


@pytest.fixture(scope="module")
async def world(
    world_database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    # One world per engine for the whole module: the tests only read it, or add to it.
    database_url = world_database
    tmp_path = tmp_path_factory.mktemp("rag-api")
    keys = {
        "alice": await add_user(
            database_url, "alice@culture.gouv.fr", Role.MEMBER, "culture", PASSWORD
        ),
        "bob": await add_user(database_url, "bob@culture.gouv.fr", Role.MEMBER, "culture"),
        "rita": await add_user(database_url, "rita@culture.gouv.fr", Role.REFERENT, "culture"),
        "carol": await add_user(database_url, "carol@agri.gouv.fr", Role.REFERENT, "agri"),
        "root": await add_user(database_url, "root@numerique.gouv.fr", Role.ADMIN, "dinum"),
    }
    async with serve_autan(make_settings(tmp_path, database_url, MODELS)) as autan:
        async with client_for(autan.base_url, keys["alice"]) as alice:
            private = await new_collection(alice, "mes notes")
            document = (await upload(alice, private, "carte.md", FICHE_MD.encode())).json()["id"]
        async with client_for(autan.base_url, keys["rita"]) as rita:
            shared = await new_collection(rita, "culture", visibility="organisation")
            shared_doc = (await upload(rita, shared, "permis.md", b"# Permis\n\nTexte.")).json()
        yield World(autan, keys, private, document, shared, shared_doc["id"])


def _search(collection: str) -> dict[str, object]:
    return {"prompt": "carte", "collections": [collection], "method": "lexical"}


async def _all_not_found(client: httpx.AsyncClient, collection: str, document: str) -> None:
    answers = {
        "get collection": await client.get(f"/v1/collections/{collection}"),
        "delete collection": await client.delete(f"/v1/collections/{collection}"),
        "list documents": await client.get("/v1/documents", params={"collection": collection}),
        "upload": await upload(client, collection, "x.md", b"# X\n\nTexte."),
        "get document": await client.get(f"/v1/documents/{document}"),
        "delete document": await client.delete(f"/v1/documents/{document}"),
        "chunks": await client.get(f"/v1/chunks/{document}"),
        "search": await client.post("/v1/search", json=_search(collection)),
    }
    for what, response in answers.items():
        assert response.status_code == 404, (what, response.text)
        assert response.json()["error"]["type"] == "not_found_error"


async def test_another_users_private_collection_is_not_found(world: World) -> None:
    async with world.client("bob") as bob:
        await _all_not_found(bob, world.alice_private, world.alice_document)
        listed = {c["id"] for c in (await bob.get("/v1/collections")).json()["data"]}
        assert listed == {world.culture_org}
        documents = {d["id"] for d in (await bob.get("/v1/documents")).json()["data"]}
        assert documents == {world.culture_document}
    async with world.client("root") as root:  # not even an administrator reads it
        await _all_not_found(root, world.alice_private, world.alice_document)


async def test_another_organisations_collection_is_not_found(world: World) -> None:
    async with world.client("carol") as carol:
        await _all_not_found(carol, world.culture_org, world.culture_document)
        listed = (await carol.get("/v1/collections")).json()["data"]
        assert all(c["visibility"] == "public" for c in listed)


async def test_members_read_but_do_not_change_organisation_collections(world: World) -> None:
    async with world.client("bob") as bob:
        assert (await bob.get(f"/v1/collections/{world.culture_org}")).status_code == 200
        assert (await bob.get(f"/v1/documents/{world.culture_document}")).status_code == 200
        assert (await bob.get(f"/v1/chunks/{world.culture_document}")).status_code == 200
        assert (await bob.post("/v1/search", json=_search(world.culture_org))).status_code == 200
        for response in (
            await bob.delete(f"/v1/collections/{world.culture_org}"),
            await bob.delete(f"/v1/documents/{world.culture_document}"),
            await upload(bob, world.culture_org, "x.md", b"# X\n\nTexte."),
        ):
            assert response.status_code == 403, response.text
            assert response.json()["error"]["message"] == (
                "You can read this collection but not change it."
            )


async def test_who_may_create_shared_collections(world: World) -> None:
    async with world.client("alice") as alice:
        refused = await alice.post(
            "/v1/collections", json={"name": "x", "visibility": "organisation"}
        )
        assert refused.status_code == 403
        assert "referents and administrators" in refused.json()["error"]["message"]
    async with world.client("rita") as rita:
        public = await rita.post("/v1/collections", json={"name": "x", "visibility": "public"})
        assert (
            public.status_code == 403 and "Only administrators" in public.json()["error"]["message"]
        )
    async with world.client("root") as root:
        created = await root.post(
            "/v1/collections", json={"name": "Fiches", "visibility": "public"}
        )
        assert created.status_code == 201
    async with world.client("carol") as carol:  # a public collection is seen by everyone
        ids = [c["id"] for c in (await carol.get("/v1/collections")).json()["data"]]
        assert created.json()["id"] in ids and world.culture_org not in ids
        assert (
            await carol.post("/v1/search", json=_search(created.json()["id"]))
        ).status_code == 200


async def test_validation_errors_are_clear(world: World) -> None:
    async with world.client("alice") as alice:
        cases = [
            await alice.post("/v1/collections", json={"name": 12}),
            await alice.post("/v1/collections", json={"name": ""}),
            await alice.post("/v1/collections", json={"name": "x", "visibility": "secret"}),
            await alice.post("/v1/search", json={**_search(world.alice_private), "k": 0}),
            await alice.post("/v1/search", json={**_search(world.alice_private), "k": "many"}),
            await alice.post(
                "/v1/search", json={**_search(world.alice_private), "method": "fuzzy"}
            ),
            await alice.post("/v1/search", json={"prompt": "x", "collections": ["not-an-id"]}),
            await alice.post("/v1/search", json={"prompt": "x", "collections": []}),
            await alice.get("/v1/documents", params={"limit": "lots"}),
        ]
        for response in cases:
            assert response.status_code == 400, response.text
            assert response.json()["error"]["type"] == "invalid_request_error"
        assert "k" in cases[3].json()["error"]["message"]
        no_file = await alice.post("/v1/documents", data={"collection": world.alice_private})
        assert no_file.status_code == 400
        assert "`file`" in no_file.json()["error"]["message"]
        no_collection = await alice.post("/v1/documents", files={"file": ("a.md", b"# A")})
        assert no_collection.status_code == 400
        assert (await alice.get("/v1/documents/not-an-id")).status_code == 404
        assert (await alice.get("/v1/collections/not-an-id")).status_code == 404


async def test_owner_sees_the_document_and_its_state(world: World) -> None:
    async with world.client("alice") as alice:
        document = (await alice.get(f"/v1/documents/{world.alice_document}")).json()
        assert document["object"] == "document" and document["name"] == "carte.md"
        assert document["collection"] == world.alice_private
        assert document["status"] in ("queued", "parsing", "indexing", "failed")
        listed = (
            await alice.get("/v1/documents", params={"collection": world.alice_private})
        ).json()
        assert world.alice_document in [d["id"] for d in listed["data"]]
        collection = (await alice.get(f"/v1/collections/{world.alice_private}")).json()
        assert (
            collection["documents"] == len(listed["data"]) and collection["visibility"] == "private"
        )


async def test_a_browser_session_uploads_with_its_csrf_token(world: World) -> None:
    async with httpx.AsyncClient(base_url=world.autan.base_url, timeout=20) as browser:
        body = {"email": "alice@culture.gouv.fr", "password": PASSWORD}
        signed_in = await browser.post("/auth/login", json=body)
        assert signed_in.status_code == 200, signed_in.text
        csrf = signed_in.json()["csrf_token"]
        form = {"collection": world.alice_private}
        forged = await upload(browser, world.alice_private, "note.md", b"# Note\n\nTexte.")
        assert forged.status_code == 403 and forged.json()["error"]["code"] == "csrf_failed"
        sent = await browser.post(  # the token as a form field, as an HTML form sends it
            "/v1/documents",
            data={**form, "csrf_token": csrf},
            files={"file": ("note.md", b"# Note\n\nTexte.")},
        )
        assert sent.status_code == 201, sent.text
        assert sent.json()["name"] == "note.md" and sent.json()["collection"] == world.alice_private
        listed = await browser.get("/v1/documents", params={"collection": world.alice_private})
        assert sent.json()["id"] in [d["id"] for d in listed.json()["data"]]
