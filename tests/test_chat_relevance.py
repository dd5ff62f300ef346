"""A grounded chat turn asks the model whether the passages found answer the question, and
says the documents do not contain the answer when it says no (no invented answer, no sources).

Real e5 embeddings and retrieval, on both engines; the chat model is the scripted one
(OpenAI protocol on loopback), which says no to the check when the question holds
`[unrelated]`, so that both branches are reached predictably.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from autan.chat.models import Message
from autan.core.db import create_engine, session_factory
from autan.llm.config import ModelConfig, ModelsConfig, ModelType, ReplicaConfig
from autan.retrieval.relevance import NOT_IN_DOCUMENTS
from tests.support.chat_turns import ask, csrf_of
from tests.support.scripted_upstream import scripted_upstream
from tests.support.web import Site, run_site

pytestmark = pytest.mark.slow

GUIDE = (
    "Guide de l'archivage. Les dossiers de marchés publics sont conservés dix ans après la "
    "fin du marché, puis versés aux archives départementales.\n"
)


@pytest.fixture
async def site(
    tmp_path: Path, database_url: str, embedded_models: ModelsConfig
) -> AsyncIterator[Site]:
    embeddings = [m for m in embedded_models.models if m.type is ModelType.EMBEDDING]
    async with scripted_upstream() as upstream:
        chat = ModelConfig(id="scripted", replicas=[ReplicaConfig(url=upstream)])
        models = ModelsConfig(models=[chat, *embeddings])
        checked: dict[str, object] = {"relevance_check": True}
        async with run_site(tmp_path, database_url, models, retrieval=checked) as running:
            yield running


async def _ready(browser: httpx.AsyncClient, url: str) -> None:
    for _ in range(300):
        info: dict[str, Any] = (
            await browser.get(url, headers={"Accept": "application/json"})
        ).json()
        if info["status"] in ("ready", "failed"):
            assert info["status"] == "ready", info
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{url} never finished")


async def _assistant(site: Site) -> str:
    async with site.signed_in("ref_a") as referent:
        headers = {"X-CSRF-Token": await csrf_of(referent), "Accept": "application/json"}
        collection = await referent.post(
            "/v1/collections",
            json={"name": "Archives", "description": "", "visibility": "organisation"},
            headers=headers,
        )
        assert collection.status_code == 201, collection.text
        uploaded = await referent.post(
            "/v1/documents",
            files={"file": ("guide-archivage.txt", GUIDE.encode(), "text/plain")},
            data={"collection": collection.json()["id"]},
            headers=headers,
        )
        assert uploaded.status_code == 201, uploaded.text
        await _ready(referent, f"/v1/documents/{uploaded.json()['id']}")
        created = await referent.post(
            "/api/orgs/agri/assistants",
            json={
                "name": "Archiviste",
                "description": "Répond à partir du guide de l'archivage.",
                "instructions": "",
                "collections": [collection.json()["id"]],
            },
            headers=headers,
        )
        assert created.status_code == 201, created.text
        return str(created.json()["id"])


async def test_passages_that_do_not_answer_give_the_fixed_answer(site: Site) -> None:
    assistant_id = await _assistant(site)
    async with site.signed_in("member_a") as member:
        csrf = await csrf_of(member)
        _response, answered = await ask(
            member,
            csrf,
            content="Combien de temps garde-t-on les dossiers de marchés publics ?",
            assistant_id=assistant_id,
        )
        sources = next(d for n, d in answered if n == "sources")["sources"]
        assert sources[0]["document_name"] == "guide-archivage.txt"
        text = "".join(d["text"] for n, d in answered if n == "delta")
        assert text.startswith("Voici une réponse")  # the model wrote this one

        _response, refused = await ask(
            member,
            csrf,
            content="Quel est le menu de la cantine ? [unrelated]",
            assistant_id=assistant_id,
        )
        names = [n for n, _ in refused]
        assert "sources" not in names and "done" in names
        text = "".join(d["text"] for n, d in refused if n == "delta")
        assert text == NOT_IN_DOCUMENTS["fr"]
        conversation_id = next(d for n, d in refused if n == "conversation")["id"]
    engine = create_engine(site.autan.settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            stored = await session.scalar(
                select(Message).where(
                    Message.role == "assistant",
                    Message.content == NOT_IN_DOCUMENTS["fr"],
                )
            )
            assert stored is not None and not stored.sources
            assert str(stored.conversation_id) == conversation_id
    finally:
        await engine.dispose()
