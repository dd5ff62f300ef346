"""Hybrid search reranked by a `rerank` model of the models file (its best 20 passages).

The reranker is a replica on loopback speaking the `/v1/rerank` protocol of TEI, vLLM and
Infinity (tests/support/rerank_upstream.py): no cross-encoder can run here without a
download from a model hub. It scores by shared words, so the expected order is computed
from the same rule, not typed in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from autan.accounts.models import Role
from autan.llm.config import ModelConfig, ModelsConfig, ModelType, ReplicaConfig
from tests.conftest import RunningAutan, make_settings, serve_autan
from tests.documents.test_ingestion import with_documents
from tests.support.rag import (
    FICHE_MD,
    OTHER_MD,
    add_user,
    client_for,
    new_collection,
    upload,
    wait_done,
)
from tests.support.rerank_upstream import FakeReranker, fake_reranker

QUESTION = "échange permis étranger résidence"


def _overlap(query: str, text: str) -> float:
    words = set(query.lower().split())
    return len(words & set(text.lower().split())) / max(1, len(words))


@pytest.fixture
async def reranker() -> AsyncIterator[FakeReranker]:
    async with fake_reranker() as running:
        yield running


async def _served(
    tmp_path: Path,
    database_url: str,
    embedded: ModelsConfig,
    reranker: FakeReranker,
    **retrieval: Any,
) -> tuple[Any, str]:
    models = ModelsConfig(
        models=[
            *embedded.models,
            ModelConfig(
                id="bge-reranker",
                type=ModelType.RERANK,
                replicas=[ReplicaConfig(url=reranker.url, upstream_model="BAAI/bge-reranker")],
            ),
        ]
    )
    settings = with_documents(make_settings(tmp_path, database_url, models))
    if retrieval:
        settings = settings.model_copy(
            update={"retrieval": settings.retrieval.model_copy(update=retrieval)}
        )
    key = await add_user(database_url, "rita@culture.gouv.fr", Role.REFERENT, "culture")
    return serve_autan(settings), key


async def _search(autan: RunningAutan, key: str) -> dict[str, Any]:
    async with client_for(autan.base_url, key) as rita:
        collection = await new_collection(rita)
        for name, text in (("carte.md", FICHE_MD), ("permis.md", OTHER_MD)):
            document = (await upload(rita, collection, name, text.encode())).json()["id"]
            assert (await wait_done(rita, document))["status"] == "ready"
        response = await rita.post(
            "/v1/search",
            json={
                "query": QUESTION,
                "collection_ids": [collection],
                "method": "hybrid",
                "limit": 3,
            },
        )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_hybrid_search_is_reranked_by_the_declared_reranker(
    tmp_path: Path, database_url: str, embedded_models: ModelsConfig, reranker: FakeReranker
) -> None:
    server, key = await _served(tmp_path, database_url, embedded_models, reranker)
    async with server as autan:
        body = await _search(autan, key)
    sent = [r for r in reranker.received if r["query"] == QUESTION]
    assert len(sent) == 1 and 1 < len(sent[0]["documents"]) <= 20
    contents = [hit["chunk"]["content"] for hit in body["data"]]
    scores = [hit["score"] for hit in body["data"]]
    assert scores == sorted(scores, reverse=True)
    assert scores == [_overlap(QUESTION, text) for text in contents]  # the reranker's scores
    best = max(sent[0]["documents"], key=lambda text: _overlap(QUESTION, text))
    assert contents[0] == best


async def test_a_broken_reranker_leaves_the_fused_order(
    tmp_path: Path, database_url: str, embedded_models: ModelsConfig, reranker: FakeReranker
) -> None:
    reranker.broken = True
    server, key = await _served(tmp_path, database_url, embedded_models, reranker)
    async with server as autan:
        body = await _search(autan, key)
    # Asked, answered nonsense: the search is still answered, in the fused order.
    assert [r for r in reranker.received if r["query"] == QUESTION]
    assert body["data"] and all(hit["method"] == "hybrid" for hit in body["data"])


async def test_a_disabled_reranker_is_not_asked(
    tmp_path: Path, database_url: str, embedded_models: ModelsConfig, reranker: FakeReranker
) -> None:
    server, key = await _served(
        tmp_path, database_url, embedded_models, reranker, rerank_model="off"
    )
    async with server as autan:
        body = await _search(autan, key)
    assert body["data"] and not [r for r in reranker.received if r["query"] == QUESTION]
