"""Faults injected into real processes: PostgreSQL restarted, Redis stopped, a model child
killed or frozen in the middle of an answer.

For each: nothing is lost (the question and what was written are stored, or the person gets
a plain message and can retry; a document being ingested ends ready), nobody sees a stack
trace, and another organisation's requests keep being served.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import structlog
from sqlalchemy import select

from autan.accounts import service as accounts
from autan.accounts.models import Role
from autan.chat import turn_store
from autan.chat.models import Message
from autan.core.db import create_engine, session_factory, utcnow
from autan.documents.models import Document
from autan.llm.config import ModelConfig, ModelsConfig, ModelType, ReplicaConfig
from autan.llm.embedded.supervisor import EmbeddedModels
from autan.llm.settings import EmbeddedSettings
from tests.conftest import make_settings, serve_autan
from tests.documents.test_ingestion import with_documents
from tests.support.database import SqliteDatabases
from tests.support.faults import Freezer, OwnPostgres, eventually
from tests.support.processes import SimUpstream, start_sim
from tests.support.rag import FICHE_MD, add_user, client_for, new_collection, upload, wait_done
from tests.support.redis_fixtures import start_redis
from tests.support.web import PASSWORD, PEOPLE, Site, hidden, parse_events, sign_in

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


@contextlib.asynccontextmanager
async def run_site(
    tmp_path: Path,
    url: str,
    models: ModelsConfig,
    quotas: dict[str, object] | None = None,
    chat: dict[str, object] | None = None,
    redis_url: str | None = None,
    gateway: dict[str, object] | None = None,
) -> AsyncIterator[Site]:
    """tests.support.web's site (the same people, charter accepted), with Redis and gateway
    settings of the test's choosing."""
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        for email, role, org in PEOPLE.values():
            user = await accounts.create_user(
                session, email, role=role, org_slug=org, password=PASSWORD
            )
            user.charter_accepted_version = 1
            user.charter_accepted_at = utcnow()
        await session.commit()
    await engine.dispose()
    settings = make_settings(tmp_path, url, models, quotas, chat=chat, **(gateway or {}))
    if redis_url is not None:
        settings = settings.model_copy(update={"redis_url": redis_url})
    async with serve_autan(settings) as autan:
        yield Site(autan)


def sim_model(sim: SimUpstream, model_id: str = "m") -> ModelConfig:
    return ModelConfig(id=model_id, replicas=[ReplicaConfig(url=sim.api_url, name=model_id)])


async def csrf_of(browser: httpx.AsyncClient) -> str:
    page = await browser.get("/")
    assert page.status_code == 200, page.text
    return hidden(page.text, "csrf_token")


async def stream_turn(
    browser: httpx.AsyncClient,
    csrf: str,
    during: Any = None,
    after_chars: int = 12,
    **body: Any,
) -> tuple[bytes, list[tuple[str, dict[str, Any]]]]:
    """Post a chat turn and read its whole stream; `during()` runs once some text came."""
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
            if during is not None and fault is None and _written(received) >= after_chars:
                started = during()
                fault = asyncio.ensure_future(started if inspect.isawaitable(started) else _done())
    finally:
        await response.aclose()
    if fault is not None:
        await fault
    assert not any(marker in received for marker in TRACEBACK_MARKERS), received
    return received, parse_events(received)


def _written(received: bytes) -> int:
    """Characters of answer text in the whole events received so far."""
    whole = received[: received.rfind(b"\n\n") + 1]
    return sum(len(data.get("text", "")) for name, data in parse_events(whole) if name == "delta")


async def _done() -> None:
    return None


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
    tmp_path: Path, own_postgres: OwnPostgres, sim: SimUpstream, monkeypatch: pytest.MonkeyPatch
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

            # Past these waits the answer is given up; shortened here to spare 16 s.
            monkeypatch.setattr(turn_store, "STORE_RETRY_DELAYS", (0.2, 0.4))
            with structlog.testing.capture_logs() as logs:
                _, events = await stream_turn(
                    browser, csrf, stop, content="Deuxième question", conversation_id=conversation
                )
            assert outage == [200, 200]
            (error,) = [data for name, data in events if name == "error"]
            assert error["code"] == "answer_not_stored", error
            assert error["message"].startswith("La réponse n'a pas pu être enregistrée"), error
            assert any(entry["event"] == "chat_answer_not_stored" for entry in logs), logs
            # Still down: pages and API calls that need the database say so plainly, 503.
            page = await browser.get("/")
            assert page.status_code == 503 and page.headers["retry-after"], page.status_code
            assert "Service momentanément indisponible" in page.text
            assert not any(marker.decode() in page.text for marker in TRACEBACK_MARKERS)
            listed = await other.get("/v1/collections")
            assert listed.status_code == 503 and listed.headers["retry-after"], listed.text
            assert listed.json()["error"]["code"] == "database_unavailable"
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


# --- Redis ---------------------------------------------------------------------------------


async def test_redis_stopped_quotas_and_login_throttling_fail_open(
    tmp_path: Path, sqlite_databases: SqliteDatabases, sim: SimUpstream
) -> None:
    url = sqlite_databases.new()
    redis = start_redis()
    models = ModelsConfig(models=[sim_model(sim), sim_model(sim, "other")])
    try:
        async with run_site(
            tmp_path, url, models, quotas={"requests_per_minute": 100}, redis_url=redis.url
        ) as site:
            other_key = await add_user(url, "api@culture.gouv.fr", Role.MEMBER, org="culture")
            async with client_for(site.autan.base_url, other_key) as other:
                assert await served(other, "m") == 200
                redis.stop()
                with structlog.testing.capture_logs() as logs:
                    # A wrong password is refused as usual (a page, not an error) ...
                    async with site.browser() as browser:
                        refused = await sign_in(browser, PEOPLE["member_a"][0], "wrong")
                        assert refused.status_code == 401, refused.status_code
                        assert 'name="password"' in refused.text  # the form, shown again
                    # ... the right one lets the person in, and the chat answers.
                    async with site.signed_in("member_a") as browser:
                        csrf = await csrf_of(browser)
                        _, events = await stream_turn(browser, csrf, content="Bonjour")
                        assert "done" in [name for name, _ in events], events
                    assert await served(other, "m") == 200
                events_logged = {entry["event"] for entry in logs}
                assert "quota_storage_unavailable" in events_logged, events_logged
                assert "login_throttle_unavailable" in events_logged, events_logged
    finally:
        redis.stop()


# --- model children ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chat_child(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedModels]:
    """An embedded llama.cpp chat child of this module's own, so that killing it spares the
    session's (which other tests use)."""
    settings = EmbeddedSettings(
        chat_model="smollm2-135m", embedding_enabled=False, parallel=2, context_length=1024
    )
    supervisor = EmbeddedModels(settings, tmp_path_factory.mktemp("faults-models"))
    supervisor.start()
    try:
        yield supervisor
    finally:
        supervisor.stop()


def child_pid(supervisor: EmbeddedModels) -> int:
    pid = supervisor.pids()["chat"]
    assert pid is not None
    return pid


async def refused_fast(client: httpx.AsyncClient) -> httpx.Response:
    """A request to the embedded model while it is out: a 503 with Retry-After, at once."""
    response = await client.post(
        "/v1/chat/completions",
        json={"model": "smollm2-135m", "messages": QUESTION, "max_tokens": 3},
    )
    assert response.status_code == 503, response.text
    assert response.headers.get("retry-after"), response.headers
    # `model_unavailable` is raised before any wait: a request that had queued would end as
    # `model_overloaded`, one sent to the frozen child as a timeout. No clock needed.
    assert response.json()["error"]["code"] == "model_unavailable", response.text
    assert response.json()["error"]["message"]
    return response


async def child_fault_site(
    tmp_path: Path, url: str, supervisor: EmbeddedModels, sim: SimUpstream, **gateway: object
) -> Any:
    models = ModelsConfig(models=[*supervisor.models_config().models, sim_model(sim, "other")])
    return run_site(tmp_path, url, models, chat={"max_answer_tokens": 24}, gateway=gateway)


LONG = "Écris un très long poème sur la mer, strophe après strophe."


async def test_a_model_child_killed_mid_answer(
    tmp_path: Path,
    sqlite_databases: SqliteDatabases,
    chat_child: EmbeddedModels,
    sim: SimUpstream,
) -> None:
    url = sqlite_databases.new()
    async with await child_fault_site(tmp_path, url, chat_child, sim) as site:
        other_key = await add_user(url, "api@culture.gouv.fr", Role.MEMBER, org="culture")
        member_key = await add_user(url, "api@agriculture.gouv.fr", Role.MEMBER, org="agri")
        async with (
            site.signed_in("member_a") as browser,
            client_for(site.autan.base_url, other_key) as other,
            client_for(site.autan.base_url, member_key) as member,
        ):
            csrf = await csrf_of(browser)
            killed = child_pid(chat_child)
            during: list[Any] = []

            async def kill() -> None:
                os.kill(killed, signal.SIGKILL)
                during.append(await served(other))

            _, events = await stream_turn(browser, csrf, kill, content=LONG)
            (error,) = [data for name, data in events if name == "error"]
            assert error["code"] == "upstream_stream_broken", error
            assert during == [200], "the other organisation's model kept answering"
            conversation = events[0][1]["id"]
            question, answer = await stored_messages(url, conversation)
            assert question.content == LONG
            assert answer.status == "failed" and answer.content and answer.error

            # Until the supervisor's new child answers: a fast 503 with Retry-After, or
            # already an answer; then the question can be asked again.
            await eventually(lambda: child_pid(chat_child) != killed, what="a new child")

            async def answered() -> bool:
                response = await member.post(
                    "/v1/chat/completions",
                    json={"model": "smollm2-135m", "messages": QUESTION, "max_tokens": 3},
                )
                if response.status_code == 503:
                    assert response.headers.get("retry-after"), response.headers
                    return False
                assert response.status_code == 200, response.text
                return True

            await eventually(answered, timeout=60, interval=0.3, what="the child serves again")
            _, events = await stream_turn(
                browser, csrf, action="regenerate", conversation_id=conversation
            )
            assert "done" in [name for name, _ in events], events


async def test_a_model_child_frozen_mid_answer(
    tmp_path: Path,
    sqlite_databases: SqliteDatabases,
    chat_child: EmbeddedModels,
    sim: SimUpstream,
) -> None:
    url = sqlite_databases.new()
    # Seconds without a token end a stream: a frozen server never closes its sockets. Not
    # too few: on a busy two-core machine llama.cpp itself pauses for a second or two.
    async with await child_fault_site(
        tmp_path, url, chat_child, sim, read_timeout=5.0, first_byte_timeout=10.0
    ) as site:
        other_key = await add_user(url, "api@culture.gouv.fr", Role.MEMBER, org="culture")
        member_key = await add_user(url, "api@agriculture.gouv.fr", Role.MEMBER, org="agri")
        async with (
            site.signed_in("member_a") as browser,
            client_for(site.autan.base_url, other_key) as other,
            client_for(site.autan.base_url, member_key) as member,
        ):
            csrf = await csrf_of(browser)
            pid = await eventually(lambda: chat_child.pids()["chat"], what="a chat child")
            with Freezer() as freezer:
                _, events = await stream_turn(
                    browser, csrf, lambda: freezer.freeze(pid), content=LONG
                )
                (error,) = [data for name, data in events if name == "error"]
                assert error["message"] and error["code"], error
                conversation = events[0][1]["id"]
                question, answer = await stored_messages(url, conversation)
                assert answer.status == "failed" and answer.content, answer
                await refused_fast(member)  # out of the pool: no request waits on it
                assert await served(other) == 200

            # Thawed: the probes bring it back and it answers again.
            async def answered() -> bool:
                response = await member.post(
                    "/v1/chat/completions",
                    json={"model": "smollm2-135m", "messages": QUESTION, "max_tokens": 3},
                )
                return response.status_code == 200

            await eventually(answered, timeout=30, interval=0.3, what="the thawed child")
            _, events = await stream_turn(
                browser, csrf, action="regenerate", conversation_id=conversation
            )
            assert "done" in [name for name, _ in events], events
