"""Faults injected into real processes: PostgreSQL restarted, Redis stopped, a model child
killed or frozen in the middle of an answer.

For each: nothing is lost (the question and what was written are stored, or the person gets
a plain message and can retry; a document being ingested ends ready), nobody sees a stack
trace, and another organisation's requests keep being served.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import structlog
from sqlalchemy import select

from autan.accounts.models import Role
from autan.chat.models import Message
from autan.core.db import create_engine, session_factory
from autan.documents.models import Document
from autan.llm.config import ModelConfig, ModelsConfig, ModelType, ReplicaConfig
from autan.llm.embedded.supervisor import EmbeddedModels
from autan.settings import EmbeddedSettings
from tests.conftest import make_settings, serve_autan
from tests.documents.test_ingestion import with_documents
from tests.support.faults import OwnPostgres, eventually, frozen
from tests.support.processes import SimUpstream, start_sim
from tests.support.rag import FICHE_MD, add_user, client_for, new_collection, upload, wait_done
from tests.support.redis_fixtures import start_redis
from tests.support.web import PASSWORD, PEOPLE, Site, hidden, run_site, sign_in

pytestmark = pytest.mark.slow

QUESTION = [{"role": "user", "content": "Bonjour"}]
TRACEBACK_MARKERS = (b"Traceback", b'File "', b"Internal Server Error")


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[OwnPostgres]:
    with OwnPostgres.in_temporary_folder() as postgres:
        yield postgres


@pytest.fixture(scope="module")
def sim() -> Iterator[SimUpstream]:
    # A paced answer (40 tokens at 20/s: two seconds) so that faults land mid-stream.
    upstream = start_sim("--ttft-ms", "0", "--tokens-per-s", "20", "--tokens", "40")
    yield upstream
    upstream.stop()


def sim_model(sim: SimUpstream, model_id: str = "m") -> ModelConfig:
    return ModelConfig(id=model_id, replicas=[ReplicaConfig(url=sim.api_url, name=model_id)])


def parse_events(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in body.split(b"\n\n"):
        name, data = "message", b""
        for line in block.split(b"\n"):
            if line.startswith(b"event:"):
                name = line[6:].strip().decode()
            elif line.startswith(b"data:"):
                data += line[5:].strip()
        if data:
            events.append((name, orjson.loads(data)))
    return events


async def csrf_of(browser: httpx.AsyncClient) -> str:
    page = await browser.get("/")
    assert page.status_code == 200, page.text
    return hidden(page.text, "csrf_token")


async def stream_turn(
    browser: httpx.AsyncClient,
    csrf: str,
    during: Any = None,
    after_deltas: int = 3,
    **body: Any,
) -> tuple[bytes, list[tuple[str, dict[str, Any]]]]:
    """Post a chat turn and read its whole stream; `during()` runs after a few deltas."""
    request = browser.build_request(
        "POST",
        "/chat/turn",
        content=orjson.dumps({"action": "send", **body}),
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
        timeout=60,
    )
    response = await browser.send(request, stream=True)
    assert response.status_code == 200, (await response.aread()).decode()
    received = b""
    fault: asyncio.Task[Any] | None = None
    try:
        async for chunk in response.aiter_bytes():
            received += chunk
            if during is not None and fault is None and received.count(b"event: delta") >= (
                after_deltas
            ):
                fault = asyncio.create_task(during())
    finally:
        await response.aclose()
    if fault is not None:
        await fault
    assert not any(marker in received for marker in TRACEBACK_MARKERS), received
    return received, parse_events(received)


async def stored_messages(database_url: str, conversation_id: str) -> list[Message]:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            rows = await session.scalars(
                select(Message)
                .where(Message.conversation_id == uuid.UUID(conversation_id))
                .order_by(Message.position)
            )
            return list(rows)
    finally:
        await engine.dispose()


async def served(client: httpx.AsyncClient, model: str = "other") -> int:
    """One chat completion of the other organisation; its status."""
    response = await client.post(
        "/v1/chat/completions",
        json={"model": model, "messages": QUESTION, "max_tokens": 3, "sim": {"tokens": 3}},
    )
    return response.status_code


# --- PostgreSQL ----------------------------------------------------------------------------


async def test_postgresql_restart_during_a_streamed_answer(
    tmp_path: Path, own_postgres: OwnPostgres, sim: SimUpstream
) -> None:
    url = own_postgres.databases.new()
    models = ModelsConfig(models=[sim_model(sim), sim_model(sim, "other")])
    async with run_site(tmp_path, url, models, chat={"max_answer_tokens": 200}) as site:
        other_key = await add_user(url, "api@culture.gouv.fr", Role.MEMBER, org="culture")
        async with (
            site.signed_in("member_a") as browser,
            client_for(site.autan.base_url, other_key) as other,
        ):
            csrf = await csrf_of(browser)
            assert await served(other) == 200  # the key is now cached: no query needed
            outage: list[int] = []

            async def restart() -> None:
                await asyncio.to_thread(own_postgres.stop)
                outage.append(await served(other))  # the other organisation, database down
                await asyncio.to_thread(own_postgres.start)

            # 1. The database restarts while the answer streams: the answer is stored whole.
            _, events = await stream_turn(browser, csrf, restart, content="Première question")
            names = [name for name, _ in events]
            assert names[0] == "conversation" and "done" in names, names
            assert outage == [200]
            conversation = events[0][1]["id"]
            messages = await stored_messages(url, conversation)
            assert [(m.role, m.status) for m in messages] == [
                ("user", "complete"),
                ("assistant", "complete"),
            ]
            assert messages[1].content.count("tok") == 40

            # 2. The database goes down mid-answer and stays down past its end: the person
            # reads a plain sentence, and the question can be asked again once it is back.
            async def stop() -> None:
                await asyncio.to_thread(own_postgres.stop)
                outage.append(await served(other))

            with structlog.testing.capture_logs() as logs:
                _, events = await stream_turn(
                    browser, csrf, stop, content="Deuxième question", conversation_id=conversation
                )
            assert outage == [200, 200]
            (error,) = [data for name, data in events if name == "error"]
            assert error["message"] and "Traceback" not in error["message"]
            assert any(entry["event"] == "chat_answer_not_stored" for entry in logs), logs
            await asyncio.to_thread(own_postgres.start)
            _, events = await stream_turn(
                browser, csrf, action="regenerate", conversation_id=conversation
            )
            assert "done" in [name for name, _ in events], events
            messages = await stored_messages(url, conversation)
            assert [(m.role, m.content[:8], m.status) for m in messages] == [
                ("user", "Première", "complete"),
                ("assistant", "tok tok ", "complete"),
                ("user", "Deuxième", "complete"),
                ("assistant", "tok tok ", "complete"),
            ]


@pytest.fixture(scope="module")
def slow_embeddings() -> Iterator[SimUpstream]:
    # Each embedding call takes 1.5 s: the document is in `indexing` when the database stops.
    upstream = start_sim("--ttft-ms", "1500")
    yield upstream
    upstream.stop()


async def test_postgresql_restart_during_ingestion(
    tmp_path: Path, own_postgres: OwnPostgres, sim: SimUpstream, slow_embeddings: SimUpstream
) -> None:
    url = own_postgres.databases.new()
    embedding = ModelConfig(
        id="e5",
        type=ModelType.EMBEDDING,
        dimensions=384,
        replicas=[ReplicaConfig(url=slow_embeddings.api_url)],
    )
    models = ModelsConfig(models=[embedding, sim_model(sim, "other")])
    # API keys are trusted for `api_key_cache_ttl` without asking the database: the other
    # organisation's key must still be cached after an outage that lasts tens of seconds
    # on a busy machine.
    settings = with_documents(
        make_settings(tmp_path, url, models, api_key_cache_ttl=300.0),
        stale_after=2.0,
        retry_delay=0.2,
    )
    owner_key = await add_user(url, "owner@agriculture.gouv.fr", Role.MEMBER, org="agri")
    other_key = await add_user(url, "api@culture.gouv.fr", Role.MEMBER, org="culture")
    async with (
        serve_autan(settings) as autan,
        client_for(autan.base_url, owner_key) as owner,
        client_for(autan.base_url, other_key) as other,
    ):
        assert await served(other) == 200
        collection = await new_collection(owner)
        response = await upload(owner, collection, "carte.md", FICHE_MD.encode())
        assert response.status_code in (201, 202), response.text
        document_id = response.json()["id"]

        async def indexing() -> bool:
            state = (await owner.get(f"/v1/documents/{document_id}")).json()
            return bool(state["status"] == "indexing")

        await eventually(indexing, what="the document reaches indexing")
        await asyncio.to_thread(own_postgres.stop)
        # The embedding call returns while the database is down: the chunks cannot be written.
        await eventually(lambda: slow_embeddings.stats()["completed"] >= 1, timeout=10)
        assert await served(other) == 200
        await asyncio.sleep(0.5)
        await asyncio.to_thread(own_postgres.start)
        state = await wait_done(owner, document_id, timeout=30)
        assert state["status"] == "ready", state
        search = await owner.post(
            "/v1/search", json={"prompt": "délai de fabrication", "collections": [collection]}
        )
        assert search.status_code == 200 and search.json()["data"], search.text
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        document = await session.get(Document, uuid.UUID(document_id))
        assert document is not None and document.chunk_count and document.chunk_count > 0
    await engine.dispose()
