"""Albert API parity, written from OpenGateLLM's documented payloads: `/v1/me/info`,
`/v1/me/usage` and the Albert fields of `/v1/search`, on both engines.

Shapes followed: `AccountUsageResponse` / `AccountUsage` (app/schemas/accounts.py), the usage
endpoint's query parameters (app/endpoints/usage.py), `SearchRequest` / `Searches`
(app/schemas/search.py), `Limit` with types rpm/rpd/tpm/tpd (app/schemas/auth.py) of
github.com/etalab-ia/OpenGateLLM.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from autan.accounts.models import Role, User
from autan.core.db import create_engine, session_factory
from autan.llm.config import ModelConfig, ModelsConfig, ReplicaConfig
from autan.retrieval.settings import RetrievalSettings
from autan.usage.models import UsageRecord
from tests.conftest import RunningAutan, make_settings, serve_autan
from tests.documents.test_ingestion import with_documents
from tests.support.database import SqliteDatabases
from tests.support.rag import (
    FICHE_MD,
    OTHER_MD,
    add_user,
    client_for,
    new_collection,
    upload,
    wait_done,
)

# The real embedded models (SmolLM2, e5): the full lane only.
pytestmark = pytest.mark.slow

MODELS = ModelsConfig(
    models=[ModelConfig(id="m", replicas=[ReplicaConfig(url="http://127.0.0.1:9/v1")])]
)
NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class World:
    autan: RunningAutan
    keys: dict[str, str]
    collection: str
    fiche: str
    permis: str
    carol_collection: str
    models: ModelsConfig

    def client(self, who: str) -> httpx.AsyncClient:
        return client_for(self.autan.base_url, self.keys[who])


async def _seed_usage(database_url: str) -> None:
    """Usage rows as the gateway writes them: alice has 5 over 40 days, carol has 2."""
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            users = {user.email.split("@")[0]: user for user in await session.scalars(select(User))}
            alice, carol = users["alice"], users["carol"]
            for days, tokens, model in ((0, 30, "m"), (1, 10, "m"), (2, 50, "e"), (3, 20, "m")):
                session.add(
                    UsageRecord(
                        created_at=NOW - timedelta(days=days, minutes=1),
                        user_id=alice.id,
                        org_id=alice.org_id,
                        endpoint="chat" if model == "m" else "embeddings",
                        model=model,
                        status=200,
                        prompt_tokens=tokens,
                        completion_tokens=tokens,
                        duration_ms=120.4,
                        gwp_g_max=1.5,
                    )
                )
            old = NOW - timedelta(days=40)
            session.add(
                UsageRecord(
                    created_at=old,
                    user_id=alice.id,
                    org_id=alice.org_id,
                    endpoint="chat",
                    model="m",
                    status=429,
                    prompt_tokens=0,
                    completion_tokens=0,
                )
            )
            for _ in range(2):
                session.add(
                    UsageRecord(
                        created_at=NOW - timedelta(minutes=5),
                        user_id=carol.id,
                        org_id=carol.org_id,
                        endpoint="chat",
                        model="m",
                        status=200,
                        prompt_tokens=999,
                        completion_tokens=999,
                    )
                )
            await session.commit()
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
async def world(
    world_database: str,
    tmp_path_factory: pytest.TempPathFactory,
    embedded_models: ModelsConfig,
) -> AsyncIterator[World]:
    database_url = world_database
    keys = {
        "alice": await add_user(database_url, "alice@culture.gouv.fr", Role.MEMBER, "culture"),
        "carol": await add_user(database_url, "carol@agri.gouv.fr", Role.REFERENT, "agri"),
        # Rita indexes the documents, so the embedding rows are hers, not alice's.
        "rita": await add_user(database_url, "rita@culture.gouv.fr", Role.REFERENT, "culture"),
    }
    await _seed_usage(database_url)
    # The real e5 embeddings: documents are indexed and searched as in production.
    settings = with_documents(
        make_settings(tmp_path_factory.mktemp("albert"), database_url, embedded_models)
    )
    async with serve_autan(settings) as autan:
        async with client_for(autan.base_url, keys["rita"]) as rita:
            collection = await new_collection(rita, "fiches", visibility="organisation")
            fiche = (await upload(rita, collection, "carte.md", FICHE_MD.encode())).json()["id"]
            permis = (await upload(rita, collection, "permis.md", OTHER_MD.encode())).json()["id"]
            for document in (fiche, permis):
                assert (await wait_done(rita, document))["status"] == "ready"
        async with client_for(autan.base_url, keys["carol"]) as carol:
            carol_collection = await new_collection(carol, "agri")
        yield World(autan, keys, collection, fiche, permis, carol_collection, embedded_models)


# --- /v1/me/info ------------------------------------------------------------------------


async def test_me_info_describes_the_caller(world: World) -> None:
    async with world.client("alice") as alice, world.client("carol") as carol:
        mine = (await alice.get("/v1/me/info")).json()
        hers = (await carol.get("/v1/me/info")).json()
    assert mine["email"] == "alice@culture.gouv.fr" and mine["role"] == "member"
    assert hers["email"] == "carol@agri.gouv.fr" and hers["role"] == "referent"
    assert mine["id"] != hers["id"] and mine["organization"] != hers["organization"]
    assert mine["organisation"]["id"] == mine["organization"]
    assert mine["budget"] is None  # no budget in Autan: said as null, not as 0
    # Quotas are off in these settings: every limit is there, and unlimited (null).
    models = {model.id for model in world.models.models}
    assert {(limit["model"], limit["type"]) for limit in mine["limits"]} == {
        (model, kind) for model in models for kind in ("rpm", "tpd")
    }
    assert all(limit["value"] is None for limit in mine["limits"])
    assert isinstance(mine["created_at"], int)


async def test_me_info_shows_the_quota_that_applies(
    tmp_path_factory: pytest.TempPathFactory, sqlite_databases: SqliteDatabases
) -> None:
    settings = make_settings(
        tmp_path_factory.mktemp("quota"),
        sqlite_databases.new(),
        MODELS,
        quotas={"requests_per_minute": 7, "tokens_per_day": 5000},
    )
    async with serve_autan(settings) as autan, autan.client() as client:
        limits = (await client.get("/v1/me/info")).json()["limits"]
    assert {(limit["type"], limit["value"]) for limit in limits} == {("rpm", 7), ("tpd", 5000)}


# --- /v1/me/usage -----------------------------------------------------------------------


async def test_me_usage_pages_only_the_callers_rows(world: World) -> None:
    async with world.client("alice") as alice:
        first = (await alice.get("/v1/me/usage", params={"limit": 3})).json()
        second = (await alice.get("/v1/me/usage", params={"limit": 3, "page": 2})).json()
    # The row from 40 days ago is outside Albert's default 30-day window.
    assert first["object"] == "list"
    assert first["total"] == 4 and first["total_requests"] == 4
    assert first["total_tokens"] == 2 * (30 + 10 + 50 + 20)
    assert first["total_co2"] == pytest.approx(6.0)
    assert (first["page"], first["limit"], first["total_pages"], first["has_more"]) == (
        1,
        3,
        2,
        True,
    )
    assert [row["total_tokens"] for row in first["data"]] == [60, 20, 100]  # newest first
    assert [row["total_tokens"] for row in second["data"]] == [40]
    assert second["has_more"] is False
    row = first["data"][0]
    expected = {"id", "datetime", "endpoint", "model", "prompt_tokens", "completion_tokens"}
    assert expected <= row.keys() and {"total_tokens", "status", "duration", "cost"} <= row.keys()
    assert row["status"] == 200 and row["duration"] == 120 and row["model"] == "m"
    # Counts only: nothing that could hold what was asked or answered.
    assert not {"content", "prompt", "messages", "answer"} & row.keys()
    async with world.client("carol") as carol:
        hers = (await carol.get("/v1/me/usage")).json()
    assert hers["total"] == 2 and {r["total_tokens"] for r in hers["data"]} == {1998}


async def test_me_usage_filters_and_orders_like_albert(world: World) -> None:
    since = int((NOW - timedelta(days=50)).timestamp())
    async with world.client("alice") as alice:
        everything = (await alice.get("/v1/me/usage", params={"date_from": since})).json()
        by_tokens = (
            await alice.get(
                "/v1/me/usage", params={"order_by": "total_tokens", "order_direction": "asc"}
            )
        ).json()
        window = (
            await alice.get(
                "/v1/me/usage",
                params={
                    "date_from": int((NOW - timedelta(days=2, hours=1)).timestamp()),
                    "date_to": int((NOW - timedelta(hours=12)).timestamp()),
                },
            )
        ).json()
        embeddings = (await alice.get("/v1/me/usage", params={"model": "e"})).json()
    assert everything["total"] == 5 and everything["data"][-1]["status"] == 429
    assert [row["total_tokens"] for row in by_tokens["data"]] == [20, 40, 60, 100]
    assert [row["total_tokens"] for row in window["data"]] == [20, 100]
    assert [row["endpoint"] for row in embeddings["data"]] == ["embeddings"]


async def test_me_usage_refuses_bad_parameters(world: World) -> None:
    async with world.client("alice") as alice:
        for params in (
            {"limit": 0},
            {"limit": 101},
            {"page": 0},
            {"order_by": "content"},
            {"order_direction": "up"},
            {"date_from": "yesterday"},
        ):
            response = await alice.get("/v1/me/usage", params=params)
            assert response.status_code == 400, (params, response.text)
            assert response.json()["error"]["type"] == "invalid_request_error"


async def test_me_routes_need_a_caller(world: World) -> None:
    async with httpx.AsyncClient(base_url=world.autan.base_url) as anonymous:
        for path in ("/v1/me/info", "/v1/me/usage"):
            assert (await anonymous.get(path)).status_code == 401


# --- /v1/search -------------------------------------------------------------------------


def _ids(body: dict[str, object]) -> list[str]:
    data = body["data"]
    assert isinstance(data, list)
    return [hit["chunk"]["metadata"]["document_id"] for hit in data]


async def test_search_takes_albert_fields(world: World) -> None:
    async with world.client("alice") as alice:
        albert = await alice.post(
            "/v1/search",
            json={
                "query": "carte identité permis",
                "collection_ids": [world.collection],
                "method": "lexical",
                "limit": 10,
            },
        )
        autan = await alice.post(
            "/v1/search",
            json={
                "prompt": "carte identité permis",
                "collections": [world.collection],
                "method": "lexical",
                "k": 10,
            },
        )
        only_permis = await alice.post(
            "/v1/search",
            json={"prompt": "permis carte", "document_ids": [world.permis], "method": "lexical"},
        )
        paged = await alice.post(
            "/v1/search",
            json={
                "prompt": "carte identité permis",
                "collection_ids": [world.collection],
                "method": "lexical",
                "limit": 1,
                "offset": 1,
            },
        )
    assert albert.status_code == 200, albert.text
    body = albert.json()
    assert body["object"] == "list"
    assert {"method", "score", "chunk"} <= body["data"][0].keys()
    assert body["data"][0]["chunk"]["object"] == "chunk"
    assert set(_ids(body)) == {world.fiche, world.permis}
    assert _ids(autan.json()) == _ids(body)  # Autan's own fields still work, same answer
    assert only_permis.status_code == 200 and set(_ids(only_permis.json())) == {world.permis}
    assert [hit["chunk"]["id"] for hit in paged.json()["data"]] == [body["data"][1]["chunk"]["id"]]


async def test_search_refuses_what_it_cannot_honour(world: World) -> None:
    async with world.client("alice") as alice:
        metadata = await alice.post(
            "/v1/search",
            json={
                "prompt": "carte",
                "collection_ids": [world.collection],
                "metadata_filters": {"key": "source", "type": "sw", "value": 3},
            },
        )
        threshold = await alice.post(
            "/v1/search",
            json={
                "prompt": "carte",
                "collection_ids": [world.collection],
                "method": "lexical",
                "score_threshold": 0.5,
            },
        )
        nothing = await alice.post("/v1/search", json={"prompt": "carte"})
        no_text = await alice.post("/v1/search", json={"collection_ids": [world.collection]})
        too_deep = await alice.post(
            "/v1/search",
            json={"prompt": "carte", "collection_ids": [world.collection], "offset": 10_000},
        )
    for response, field in (
        (metadata, "string"),
        (threshold, "semantic"),
        (nothing, "collection"),
        (no_text, "query"),
        (too_deep, "offset"),
    ):
        assert response.status_code == 400, response.text
        assert field in response.json()["error"]["message"]


async def test_search_of_another_organisations_documents_is_not_found(world: World) -> None:
    async with world.client("carol") as carol:
        for body in (
            {"prompt": "carte", "document_ids": [world.fiche]},
            {
                "prompt": "carte",
                "collection_ids": [world.carol_collection],
                "document_ids": [world.fiche],
            },
            {"prompt": "carte", "document_ids": [str(uuid.uuid4())]},
        ):
            response = await carol.post("/v1/search", json={**body, "method": "lexical"})
            assert response.status_code == 404, response.text
            assert response.json()["error"]["type"] == "not_found_error"


async def test_search_threshold_and_fusion_constant(world: World) -> None:
    question = "Combien de temps faut-il pour fabriquer une carte d'identité ?"
    async with world.client("alice") as alice:
        semantic = await alice.post(
            "/v1/search",
            json={
                "prompt": question,
                "collection_ids": [world.collection],
                "method": "semantic",
                "limit": 10,
            },
        )
        scores = [hit["score"] for hit in semantic.json()["data"]]
        cut = (max(scores) + min(scores)) / 2
        above = await alice.post(
            "/v1/search",
            json={
                "prompt": question,
                "collection_ids": [world.collection],
                "method": "semantic",
                "limit": 10,
                "score_threshold": cut,
            },
        )
        hybrid = await alice.post(
            "/v1/search",
            json={
                "prompt": question,
                "collection_ids": [world.collection],
                "method": "hybrid",
                "rff_k": 20,
                "limit": 3,
            },
        )
        tight = await alice.post(
            "/v1/search",
            json={
                "prompt": question,
                "collection_ids": [world.collection],
                "method": "hybrid",
                "rff_k": 1,
                "limit": 3,
            },
        )
    assert semantic.status_code == 200 and len(scores) >= 2 and max(scores) > min(scores)
    kept = [hit["score"] for hit in above.json()["data"]]
    assert kept and all(score >= cut for score in kept)
    assert kept == [score for score in scores if score >= cut]
    assert hybrid.status_code == 200, hybrid.text
    assert world.fiche in _ids(hybrid.json())
    assert all(hit["method"] == "hybrid" for hit in hybrid.json()["data"])
    # Reciprocal rank fusion: a passage scores at most sum(weight / (rff_k + 1)).
    most = (1 + RetrievalSettings().semantic_weight) / 21
    assert hybrid.json()["data"][0]["score"] <= most < tight.json()["data"][0]["score"]
