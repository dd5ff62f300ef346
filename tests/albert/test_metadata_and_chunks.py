"""Albert API parity, second slice: document metadata, metadata filters, ready-made chunks
and chunking options, on both engines, written from OpenGateLLM's documented payloads.

Shapes followed (github.com/etalab-ia/OpenGateLLM, api/schemas): `CreateDocumentForm`
(multipart `collection_id`, `metadata` as a JSON string, `disable_chunking`, `chunk_size`,
`chunk_overlap`, `chunk_min_size`, `separators`, `is_separator_regex`); `ChunkMetadata` (at
most 10 keys, scalar values); `ComparisonFilter` (`key`, `type` in eq/sw/ew/co, `value`) and
`CompoundFilter` (`filters` 2 to 4, `operator` and/or) of `SearchArgs.metadata_filters`;
`CreateChunks` / `InputChunk` and `ChunksResponse` (`document_id`, `ids`); `Chunk`
(`object`, `id`, `collection_id`, `document_id`, `content`, `metadata`, `created`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from autan.accounts.models import Role
from autan.documents.albert_chunking import MAX_CHUNK_CHARS
from autan.llm.config import ModelsConfig
from tests.conftest import RunningAutan, make_settings, serve_autan
from tests.documents.test_ingestion import with_documents
from tests.support.rag import FICHE_MD, OTHER_MD, add_user, client_for, new_collection, wait_done

FICHE_META = {"source_title": "Fiche carte", "theme": "identite", "year": 2024, "public": True}
PERMIS_META = {"source_title": "Fiche permis", "theme": "transport", "year": 2023}
NOTES_MD = "# Notes\n\nUn document qui recevra des passages tout faits.\n"
LONG_MD = "# Long\n\n" + "\n\n".join(
    f"Paragraphe {n}. La demande se fait en mairie, avec un justificatif de domicile récent."
    for n in range(12)
)


@dataclass
class World:
    autan: RunningAutan
    keys: dict[str, str]
    collection: str
    docs: dict[str, str]  # name -> id
    meta: dict[str, dict[str, Any]]  # id -> metadata sent
    carol_collection: str

    def client(self, who: str) -> httpx.AsyncClient:
        return client_for(self.autan.base_url, self.keys[who])


async def send(client: httpx.AsyncClient, name: str, data: bytes, **fields: Any) -> httpx.Response:
    """An upload in Albert's multipart shape (`collection_id`, strings for every field)."""
    form = {k: v if isinstance(v, str | list) else json.dumps(v) for k, v in fields.items()}
    return await client.post("/v1/documents", data=form, files={"file": (name, data)})


@pytest.fixture(scope="module")
async def world(
    world_database: str,
    tmp_path_factory: pytest.TempPathFactory,
    embedded_models: ModelsConfig,
) -> AsyncIterator[World]:
    url = world_database
    keys = {
        "alice": await add_user(url, "alice@culture.gouv.fr", Role.MEMBER, "culture"),
        "rita": await add_user(url, "rita@culture.gouv.fr", Role.REFERENT, "culture"),
        "carol": await add_user(url, "carol@agri.gouv.fr", Role.REFERENT, "agri"),
    }
    settings = with_documents(
        make_settings(tmp_path_factory.mktemp("albert2"), url, embedded_models)
    )
    async with serve_autan(settings) as autan:
        async with client_for(autan.base_url, keys["rita"]) as rita:
            collection = await new_collection(rita, "fiches", visibility="organisation")
            docs: dict[str, str] = {}
            meta: dict[str, dict[str, Any]] = {}
            for name, text, metadata in (
                ("carte.md", FICHE_MD, FICHE_META),
                ("permis.md", OTHER_MD, PERMIS_META),
                ("notes.md", NOTES_MD, None),
            ):
                fields: dict[str, Any] = {"collection_id": collection}
                if metadata:
                    fields["metadata"] = json.dumps(metadata)
                response = await send(rita, name, text.encode(), **fields)
                assert response.status_code == 201, response.text
                docs[name] = response.json()["id"]
                meta[docs[name]] = metadata or {}
            for document in docs.values():
                assert (await wait_done(rita, document))["status"] == "ready"
        async with client_for(autan.base_url, keys["carol"]) as carol:
            carol_collection = await new_collection(carol, "agri")
            response = await send(
                carol,
                "agri.md",
                FICHE_MD.replace("Carte", "Carte agricole").encode(),
                collection_id=carol_collection,
                metadata=json.dumps({"theme": "identite"}),
            )
            assert (await wait_done(carol, response.json()["id"]))["status"] == "ready"
        yield World(autan, keys, collection, docs, meta, carol_collection)


def _documents(body: dict[str, Any]) -> set[str]:
    return {hit["chunk"]["document_id"] for hit in body["data"]}


def _expected(world: World, test: Any) -> set[str]:
    """The documents of the fiches collection whose metadata pass `test` (computed, not typed)."""
    return {doc for doc, meta in world.meta.items() if test(meta)}


# --- metadata on documents and chunks ---------------------------------------------------


async def test_metadata_is_kept_and_returned_with_chunks(world: World) -> None:
    fiche = world.docs["carte.md"]
    async with world.client("alice") as alice:
        document = (await alice.get(f"/v1/documents/{fiche}")).json()
        found = await alice.post(
            "/v1/search",
            json={"query": "carte identité", "collection_ids": [world.collection], "limit": 10},
        )
        listed = (await alice.get(f"/v1/chunks/{fiche}", params={"limit": 1})).json()
    assert document["metadata"] == FICHE_META
    assert document["collection_id"] == world.collection and isinstance(document["created"], int)
    assert found.status_code == 200, found.text
    hit = next(h for h in found.json()["data"] if h["chunk"]["document_id"] == fiche)
    chunk = hit["chunk"]
    assert {"object", "id", "collection_id", "document_id", "content", "metadata"} <= set(chunk)
    assert chunk["collection_id"] == world.collection
    assert {k: chunk["metadata"][k] for k in FICHE_META} == FICHE_META
    assert len(listed["data"]) == 1 and listed["data"][0]["metadata"]["theme"] == "identite"
    assert isinstance(listed["data"][0]["created"], int)


@pytest.mark.parametrize(
    ("filters", "test"),
    [
        (
            {"key": "theme", "type": "eq", "value": "identite"},
            lambda m: m.get("theme") == "identite",
        ),
        ({"key": "year", "type": "eq", "value": 2023}, lambda m: m.get("year") == 2023),
        ({"key": "public", "type": "eq", "value": True}, lambda m: m.get("public") is True),
        (
            {"key": "source_title", "type": "sw", "value": "Fiche"},
            lambda m: str(m.get("source_title", "")).startswith("Fiche"),
        ),
        (
            {"key": "source_title", "type": "ew", "value": "permis"},
            lambda m: str(m.get("source_title", "")).endswith("permis"),
        ),
        (
            {"key": "source_title", "type": "co", "value": "he car"},
            lambda m: "he car" in str(m.get("source_title", "")),
        ),
        (
            {"key": "source_title", "type": "co", "value": "%"},  # a LIKE wildcard, taken as text
            lambda m: "%" in str(m.get("source_title", "")),
        ),
        (
            {
                "operator": "and",
                "filters": [
                    {"key": "source_title", "type": "sw", "value": "Fiche"},
                    {"key": "year", "type": "eq", "value": 2024},
                ],
            },
            lambda m: str(m.get("source_title", "")).startswith("Fiche") and m.get("year") == 2024,
        ),
        (
            {
                "operator": "or",
                "filters": [
                    {"key": "theme", "type": "eq", "value": "transport"},
                    {"key": "public", "type": "eq", "value": True},
                ],
            },
            lambda m: m.get("theme") == "transport" or m.get("public") is True,
        ),
        # The string "2024" is not the number 2024: types are compared too.
        ({"key": "year", "type": "eq", "value": "2024"}, lambda m: m.get("year") == "2024"),
    ],
)
async def test_metadata_filters_narrow_every_method(
    world: World, filters: dict[str, Any], test: Any
) -> None:
    expected = _expected(world, test)
    async with world.client("alice") as alice:
        for method in ("lexical", "semantic", "hybrid"):
            response = await alice.post(
                "/v1/search",
                json={
                    "query": "carte identité permis de conduire document",
                    "collection_ids": [world.collection],
                    "method": method,
                    "limit": 50,
                    "metadata_filters": filters,
                },
            )
            assert response.status_code == 200, response.text
            found = _documents(response.json())
            assert found <= expected, (method, found, expected)
            if method != "lexical":  # dense search ranks every passage of the scope
                assert found == expected, (method, found, expected)


async def test_metadata_filters_with_document_ids_stay_a_union(world: World) -> None:
    permis = world.docs["permis.md"]
    async with world.client("alice") as alice:
        response = await alice.post(
            "/v1/search",
            json={
                "query": "carte permis",
                "document_ids": [permis],
                "method": "semantic",
                "metadata_filters": {"key": "theme", "type": "eq", "value": "transport"},
            },
        )
    assert _documents(response.json()) == {permis}


async def test_metadata_filters_never_reach_other_organisations(world: World) -> None:
    identity = {"key": "theme", "type": "eq", "value": "identite"}
    async with world.client("carol") as carol:
        foreign = await carol.post(
            "/v1/search",
            json={
                "query": "carte",
                "collection_ids": [world.collection],
                "metadata_filters": identity,
            },
        )
        foreign_doc = await carol.post(
            "/v1/search",
            json={
                "query": "carte",
                "document_ids": [world.docs["carte.md"]],
                "metadata_filters": identity,
            },
        )
        own = await carol.post(
            "/v1/search",
            json={
                "query": "carte",
                "collection_ids": [world.carol_collection],
                "method": "semantic",
                "metadata_filters": identity,
            },
        )
    assert foreign.status_code == 404 and foreign_doc.status_code == 404
    assert own.status_code == 200 and own.json()["data"]
    assert not _documents(own.json()) & set(world.docs.values())


@pytest.mark.parametrize(
    ("filters", "words"),
    [
        ({"key": "theme", "type": "gt", "value": "a"}, "type"),
        ({"key": "a.b", "type": "eq", "value": "a"}, "key"),
        ({"key": "theme", "type": "eq", "value": ["a"]}, "value"),
        ({"key": "theme", "type": "co", "value": 12}, "string"),
        ({"operator": "and", "filters": [{"key": "theme", "type": "eq", "value": "a"}]}, "filters"),
        (
            {
                "operator": "xor",
                "filters": [
                    {"key": "a", "type": "eq", "value": 1},
                    {"key": "b", "type": "eq", "value": 2},
                ],
            },
            "operator",
        ),
    ],
)
async def test_bad_metadata_filters_are_refused_in_plain_words(
    world: World, filters: dict[str, Any], words: str
) -> None:
    async with world.client("alice") as alice:
        response = await alice.post(
            "/v1/search",
            json={
                "query": "carte",
                "collection_ids": [world.collection],
                "metadata_filters": filters,
            },
        )
    assert response.status_code == 400, response.text
    assert words in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("metadata", "words"),
    [
        ({f"k{n}": n for n in range(11)}, "at most 10"),
        ({"tags": ["a", "b"]}, "lists and objects"),
        ({"nested": {"a": 1}}, "lists and objects"),
        ({"title": "x" * 256}, "255"),
        ({"bad key": "x"}, "not allowed"),
        ({"huge": 10**20}, "out of range"),
        ("[1, 2]", "JSON object"),
        ("{not json", "JSON object"),
        ("x" * 5000, "too large"),
    ],
)
async def test_bad_metadata_is_refused_and_nothing_is_filed(
    world: World, metadata: Any, words: str
) -> None:
    raw = metadata if isinstance(metadata, str) else json.dumps(metadata)
    async with world.client("rita") as rita:
        before = (await rita.get("/v1/documents", params={"collection": world.collection})).json()
        response = await send(
            rita, "autre.md", b"# Autre\n\nTexte.", collection_id=world.collection, metadata=raw
        )
        after = (await rita.get("/v1/documents", params={"collection": world.collection})).json()
    assert response.status_code == 400, response.text
    assert words in response.json()["error"]["message"]
    assert response.json()["error"]["param"].startswith("metadata")
    assert len(after["data"]) == len(before["data"])


# --- ready-made chunks ------------------------------------------------------------------


async def test_ready_made_chunks_are_embedded_listed_and_found(world: World) -> None:
    notes = world.docs["notes.md"]
    body: dict[str, list[dict[str, Any]]] = {
        "chunks": [
            {"content": "Le renouvellement du passeport biométrique se demande en mairie."},
            {
                "content": "La vignette Crit'Air se commande sur le site officiel.",
                "metadata": {"source_url": "https://www.certificat-air.gouv.fr", "rank": 2},
            },
        ]
    }
    async with world.client("rita") as rita:
        before = (await rita.get(f"/v1/documents/{notes}/chunks")).json()["data"]
        created = await rita.post(f"/v1/documents/{notes}/chunks", json=body)
        after = (await rita.get(f"/v1/documents/{notes}/chunks")).json()["data"]
        one = await rita.get(f"/v1/chunks/{notes}/{created.json()['ids'][1]}")
        found = await rita.post(
            "/v1/search",
            json={
                "query": "vignette Crit'Air",
                "document_ids": [notes],
                "method": "semantic",
                "limit": 1,
            },
        )
        document = (await rita.get(f"/v1/documents/{notes}")).json()
    assert created.status_code == 201, created.text
    assert created.json()["document_id"] == notes and len(created.json()["ids"]) == 2
    assert [c["content"] for c in after[len(before) :]] == [c["content"] for c in body["chunks"]]
    assert one.status_code == 200 and one.json()["metadata"]["rank"] == 2
    top = found.json()["data"][0]["chunk"]
    assert top["id"] == created.json()["ids"][1]  # the vector search found it: it was embedded
    assert top["metadata"]["source_url"] == "https://www.certificat-air.gouv.fr"
    assert document["chunks"] == len(after)


async def test_chunks_of_others_are_not_found_and_members_cannot_add(world: World) -> None:
    fiche = world.docs["carte.md"]
    body = {"chunks": [{"content": "Intrus."}]}
    async with world.client("carol") as carol, world.client("alice") as alice:
        responses = {
            "carol lists": await carol.get(f"/v1/documents/{fiche}/chunks"),
            "carol reads": await carol.get(f"/v1/chunks/{fiche}"),
            "carol adds": await carol.post(f"/v1/documents/{fiche}/chunks", json=body),
            "unknown": await alice.post(f"/v1/documents/{uuid.uuid4()}/chunks", json=body),
            "not an id": await alice.get("/v1/chunks/nope"),
        }
        member = await alice.post(f"/v1/documents/{fiche}/chunks", json=body)
        missing_chunk = await alice.get(f"/v1/chunks/{fiche}/999999999")
    for what, response in responses.items():
        assert response.status_code == 404, (what, response.text)
    assert member.status_code == 403 and missing_chunk.status_code == 404


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"chunks": []}, "chunks"),
        ({"chunks": [{"content": "x"}] * 65}, "chunks"),
        ({"chunks": [{"content": "   "}]}, "text"),
        ({"chunks": [{"content": "x", "metadata": {"a": {"b": 1}}}]}, "lists and objects"),
        ({"chunks": [{"content": "x", "extra": 1}]}, "extra"),
    ],
)
async def test_bad_chunks_are_refused(world: World, body: dict[str, Any], words: str) -> None:
    async with world.client("rita") as rita:
        response = await rita.post(f"/v1/documents/{world.docs['notes.md']}/chunks", json=body)
    assert response.status_code == 400, response.text
    assert words in response.json()["error"]["message"].lower()


# --- chunking options -------------------------------------------------------------------


async def test_chunking_options_shape_the_passages(world: World) -> None:
    async with world.client("rita") as rita:
        small = await send(
            rita,
            "long.md",
            LONG_MD.encode(),
            collection_id=world.collection,
            chunk_size="200",
            chunk_overlap="20",
            separators=["\n\n", ". "],
        )
        whole = await send(
            rita,
            "long2.md",
            (LONG_MD + "\nFin.").encode(),
            collection_id=world.collection,
            disable_chunking="true",
        )
        for response in (small, whole):
            assert response.status_code == 201, response.text
            assert (await wait_done(rita, response.json()["id"]))["status"] == "ready"
        cut = (await rita.get(f"/v1/documents/{small.json()['id']}/chunks")).json()["data"]
        kept = (await rita.get(f"/v1/documents/{whole.json()['id']}/chunks")).json()["data"]
    assert len(cut) > 3 and all(len(chunk["content"]) <= 200 for chunk in cut)
    assert len(kept) == 1 and "Paragraphe 11" in kept[0]["content"]


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"chunk_size": "10"}, "chunk_size"),
        ({"chunk_size": str(MAX_CHUNK_CHARS + 1)}, "chunk_size"),
        ({"chunk_size": "deux"}, "chunk_size"),
        ({"chunk_size": "500", "chunk_overlap": "400"}, "chunk_overlap"),
        ({"disable_chunking": "peut-être"}, "disable_chunking"),
        ({"separators": ["("], "is_separator_regex": "true"}, "separators"),
    ],
)
async def test_bad_chunking_options_are_refused(
    world: World, fields: dict[str, Any], param: str
) -> None:
    async with world.client("rita") as rita:
        response = await send(
            rita, "opts.md", b"# Options\n\nTexte.", collection_id=world.collection, **fields
        )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
