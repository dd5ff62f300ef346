"""`POST /v1/rerank` as Albert documents it (`model`, `query`, `documents`, `top_n` →
`results[{index, relevance_score}]`, the Cohere / vLLM / Infinity shape), relayed to a
reranker declared in the models file with `type: rerank`, counted like any model request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from autan.llm.config import ModelConfig, ModelsConfig, ModelType, ReplicaConfig
from tests.conftest import RunningAutan, make_settings, serve_autan
from tests.support.rerank_upstream import FakeReranker, fake_reranker
from tests.support.usage import usage_rows

DOCUMENTS = [
    "Le permis de conduire se renouvelle en ligne.",
    "La carte d'identité est gratuite lors d'une première demande.",
    "Le délai de fabrication de la carte d'identité varie selon la mairie.",
]
QUERY = "délai carte d'identité"


@pytest.fixture
async def reranker() -> AsyncIterator[FakeReranker]:
    async with fake_reranker() as running:
        yield running


def _models(reranker: FakeReranker) -> ModelsConfig:
    return ModelsConfig(
        models=[
            ModelConfig(id="chat", replicas=[ReplicaConfig(url="http://127.0.0.1:9/v1")]),
            ModelConfig(
                id="bge-reranker",
                type=ModelType.RERANK,
                replicas=[ReplicaConfig(url=reranker.url, upstream_model="BAAI/bge-reranker")],
            ),
        ]
    )


@pytest.fixture
async def autan(
    reranker: FakeReranker, tmp_path: Path, database_url: str
) -> AsyncIterator[RunningAutan]:
    async with serve_autan(make_settings(tmp_path, database_url, _models(reranker))) as running:
        yield running


async def test_rerank_answers_in_albert_shape(
    autan: RunningAutan, reranker: FakeReranker, database_url: str
) -> None:
    async with autan.client() as client:
        response = await client.post(
            "/v1/rerank",
            json={"model": "bge-reranker", "query": QUERY, "documents": DOCUMENTS, "top_n": 2},
        )
        listed = (await client.get("/v1/models")).json()["data"]
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "bge-reranker"
    assert [result["index"] for result in body["results"]] == [2, 1]
    scores = [result["relevance_score"] for result in body["results"]]
    assert scores == sorted(scores, reverse=True) and all(isinstance(s, float) for s in scores)
    assert set(body["results"][0]) == {"index", "relevance_score"}
    # Relayed as the replica's own model name, with the query and documents untouched.
    assert reranker.received == [
        {"model": "BAAI/bge-reranker", "query": QUERY, "documents": DOCUMENTS, "top_n": 2}
    ]
    assert {"id": "bge-reranker", "type": "rerank"}.items() <= next(
        m for m in listed if m["id"] == "bge-reranker"
    ).items()
    rows = await usage_rows(database_url, 1)
    assert [(row.endpoint, row.model, row.status) for row in rows] == [
        ("rerank", "bge-reranker", 200)
    ]
    assert rows[0].prompt_tokens == body["usage"]["total_tokens"] > 0


async def test_rerank_without_top_n_scores_every_document(autan: RunningAutan) -> None:
    async with autan.client() as client:
        response = await client.post(
            "/v1/rerank", json={"model": "bge-reranker", "query": QUERY, "documents": DOCUMENTS}
        )
    assert sorted(result["index"] for result in response.json()["results"]) == [0, 1, 2]


async def test_rerank_refuses_bad_requests_in_plain_words(autan: RunningAutan) -> None:
    good = {"model": "bge-reranker", "query": QUERY, "documents": DOCUMENTS}
    async with autan.client() as client:
        cases = {
            "documents": await client.post("/v1/rerank", json={**good, "documents": []}),
            "query": await client.post("/v1/rerank", json={**good, "query": ""}),
            "top_n": await client.post("/v1/rerank", json={**good, "top_n": 0}),
            "chat": await client.post("/v1/rerank", json={**good, "model": "chat"}),
        }
        unknown = await client.post("/v1/rerank", json={**good, "model": "nope"})
    for field, response in cases.items():
        assert response.status_code == 400, response.text
        assert field in response.json()["error"]["message"]
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "model_not_found"


async def test_a_broken_reranker_answer_is_an_upstream_error(
    autan: RunningAutan, reranker: FakeReranker
) -> None:
    reranker.broken = True
    async with autan.client() as client:
        response = await client.post(
            "/v1/rerank", json={"model": "bge-reranker", "query": QUERY, "documents": DOCUMENTS}
        )
    assert response.status_code == 502, response.text
    assert "reranking model" in response.json()["error"]["message"]


async def test_without_a_reranker_the_error_says_so(tmp_path: Path, database_url: str) -> None:
    models = ModelsConfig(
        models=[ModelConfig(id="chat", replicas=[ReplicaConfig(url="http://127.0.0.1:9/v1")])]
    )
    settings = make_settings(tmp_path, database_url, models)
    async with serve_autan(settings) as autan, autan.client() as client:
        response = await client.post(
            "/v1/rerank", json={"model": "any", "query": QUERY, "documents": DOCUMENTS}
        )
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "no_rerank_model"
    assert "no reranking model" in error["message"]
