"""Chat completions with `search: true`: the retrieved passages ground the answer and come back."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from autan.accounts.models import Role
from autan.llm.config import ModelsConfig
from autan.retrieval.grounding import grounded_messages, sources_of
from autan.retrieval.search import SearchHit
from tests.conftest import make_settings, serve_autan
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

QUESTION = "Combien coûte une carte d'identité après un vol ?"


def hit(n: int, content: str, pages: str = "") -> SearchHit:
    return SearchHit(
        chunk_id=n,
        document_id=uuid.UUID(int=n),
        collection_id=None,
        document_name=f"doc{n}.pdf",
        content=content,
        page=int(pages.split("-")[0]) if pages else None,
        pages=pages,
        headings="Titre > Partie",
        position=n,
        score=1.0 / n,
        method="hybrid",
    )


def test_grounded_messages_number_the_sources() -> None:
    hits = [hit(1, "Premier passage."), hit(2, "Deuxième passage. " * 40, "3-4")]
    messages = [
        {"role": "system", "content": "Tu es l'assistant du ministère."},
        {"role": "user", "content": "Bonjour"},
        {"role": "assistant", "content": "Bonjour !"},
        {"role": "user", "content": QUESTION},
    ]
    grounded = grounded_messages(messages, hits, "fr")
    assert len(grounded) == 4 and grounded[0]["role"] == "system"
    assert grounded[0]["content"].startswith("Tu es l'assistant du ministère.")
    assert "[1]" in grounded[0]["content"] and "Réponds uniquement" in grounded[0]["content"]
    last = grounded[-1]["content"]
    assert "[1] doc1.pdf — Titre > Partie\nPremier passage." in last
    assert "[2] doc2.pdf — p. 3-4 — Titre > Partie" in last
    assert last.endswith(f"Question : {QUESTION}")
    assert grounded[1]["content"] == "Bonjour"  # earlier turns are left alone
    assert messages[-1]["content"] == QUESTION  # the caller's list is not changed
    english = grounded_messages([{"role": "user", "content": "What?"}], [], "en")
    assert english[0]["content"].startswith("Answer only from the numbered sources")
    assert "no passage was found" in english[1]["content"]
    sources = sources_of(hits)
    assert [s["number"] for s in sources] == [1, 2]
    assert sources[1]["pages"] == "3-4" and sources[1]["page"] == 3
    assert sources[1]["excerpt"].endswith("…") and len(sources[1]["excerpt"]) <= 301
    assert sources[0]["chunk_id"] == 1 and sources[0]["document_id"] == str(uuid.UUID(int=1))


@pytest.mark.slow
async def test_search_true_answers_with_the_retrieved_chunks(
    tmp_path: Path, database_url: str, embedded_models: ModelsConfig
) -> None:
    settings = with_documents(make_settings(tmp_path, database_url, embedded_models))
    chat_model = next(m.id for m in embedded_models.models if m.type == "chat")
    async with serve_autan(settings) as autan, autan.client() as client:
        collection = await new_collection(client)
        for name, text in (("carte.md", FICHE_MD), ("permis.md", OTHER_MD)):
            sent = await upload(client, collection, name, text.encode())
            assert (await wait_done(client, sent.json()["id"]))["status"] == "ready"
        args = {"collections": [collection], "k": 2, "method": "hybrid"}
        searched = await client.post("/v1/search", json={"prompt": QUESTION, **args})
        expected = searched.json()["data"]
        assert len(expected) == 2
        request = {
            "model": chat_model,
            "messages": [{"role": "user", "content": QUESTION}],
            "max_tokens": 4,
            "temperature": 0,
            "search": True,
            "search_args": args,
        }
        answer = await client.post("/v1/chat/completions", json=request)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["choices"][0]["message"]["content"].strip()
        assert body["search_results"] == expected
        assert "timbre fiscal" in body["search_results"][0]["chunk"]["content"]

        events: list[str] = []
        async with client.stream(
            "POST", "/v1/chat/completions", json={**request, "stream": True}
        ) as streamed:
            assert streamed.status_code == 200
            async for line in streamed.aiter_lines():
                if line.startswith("data: "):
                    events.append(line[6:])
        first = json.loads(events[0])
        assert first == {"object": "search_results", "data": expected}
        assert json.loads(events[1])["object"] == "chat.completion.chunk"
        assert events[-1] == "[DONE]"

        stranger = await add_user(database_url, "other@example.org", Role.MEMBER)
        async with client_for(autan.base_url, stranger) as other:
            refused = await other.post("/v1/chat/completions", json=request)
            assert refused.status_code == 404
            bad = await other.post(
                "/v1/chat/completions", json={**request, "search_args": {"collections": "x"}}
            )
            assert bad.status_code == 400
