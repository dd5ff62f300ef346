"""The chat over HTTP: turns, stop, edit, regenerate, temporary, rename, search, feedback, and
that nobody reaches another person's conversations.

One conversation runs the real embedded model end to end (the full lane); the refusals, the
temporary turns, stopping and access control do not depend on the model's words and run
over the in-process scripted model (the fast lane too)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from markupsafe import escape
from sqlalchemy import func, select, text

from autan.chat.models import Conversation, Feedback, Message
from autan.core.db import create_engine, session_factory
from autan.llm.config import ModelConfig, ModelsConfig, ReplicaConfig
from tests.support.chat_turns import ask, csrf_of
from tests.support.scripted_upstream import scripted_upstream
from tests.support.web import Site, run_site


@pytest.fixture
async def real_site(
    tmp_path: Path, database_url: str, embedded_models: ModelsConfig
) -> AsyncIterator[Site]:
    async with run_site(tmp_path, database_url, embedded_models) as running:
        yield running


@pytest.fixture
async def site(tmp_path: Path, database_url: str) -> AsyncIterator[Site]:
    async with scripted_upstream() as upstream:
        models = ModelsConfig(
            models=[ModelConfig(id="scripted", replicas=[ReplicaConfig(url=upstream)])]
        )
        async with run_site(tmp_path, database_url, models) as running:
            yield running


async def count(site: Site, table: type[Any]) -> int:
    engine = create_engine(site.autan.settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            return int(await session.scalar(select(func.count()).select_from(table)) or 0)
    finally:
        await engine.dispose()


@pytest.mark.slow  # the real embedded model
async def test_a_conversation_from_question_to_feedback(real_site: Site) -> None:
    site = real_site
    async with site.signed_in("member_a") as browser:
        csrf = await csrf_of(browser)
        response, events = await ask(browser, csrf, content="Bonjour, qui es-tu ?")
        assert response.headers["content-type"].startswith("text/event-stream")
        names = [name for name, _ in events]
        assert names[0] == "conversation" and "delta" in names and "done" in names
        answer = "".join(data["text"] for name, data in events if name == "delta")
        assert answer.strip()
        conversation_id = events[0][1]["id"]
        done = next(data for name, data in events if name == "done")
        assert done["status"] == "complete"
        titled = [data for name, data in events if name == "title"]
        assert titled and titled[0]["title"]

        page = await browser.get(f"/c/{conversation_id}")
        assert page.status_code == 200
        assert "Bonjour, qui es-tu ?" in page.text
        assert str(escape(titled[0]["title"])) in page.text  # in the sidebar and the heading

        # Another question in the same conversation, then another answer to it.
        _response, events = await ask(
            browser, csrf, content="Et en une phrase ?", conversation_id=conversation_id
        )
        assert [n for n, _ in events][-1] in ("done", "title")
        _response, events = await ask(
            browser, csrf, action="regenerate", conversation_id=conversation_id
        )
        assert any(n == "done" for n, _ in events)
        assert await count(site, Message) == 4  # two questions, two answers (one replaced)

        # Editing the first question forgets everything after it.
        _response, events = await ask(
            browser,
            csrf,
            action="edit",
            position=0,
            content="Quelle est la capitale de la France ?",
            conversation_id=conversation_id,
        )
        assert any(n == "done" for n, _ in events)
        assert await count(site, Message) == 2

        # Feedback on the answer.
        message_id = next(d for n, d in events if n == "done")["message_id"]
        given = await browser.post(
            f"/messages/{message_id}/feedback",
            data={"csrf_token": csrf, "rating": "-1", "comment": "Trop long"},
        )
        assert given.status_code == 200 and 'aria-pressed="true"' in given.text
        assert await count(site, Feedback) == 1

        # Rename, search by title and by content.
        renamed = await browser.post(
            f"/c/{conversation_id}/rename", data={"csrf_token": csrf, "title": "Géographie"}
        )
        assert renamed.status_code == 303
        found = await browser.get("/chat/search", params={"q": "géographie"})
        assert f"/c/{conversation_id}" in found.text
        found = await browser.get("/chat/search", params={"q": "CAPITALE de la"})
        assert f"/c/{conversation_id}" in found.text
        missing = await browser.get("/chat/search", params={"q": "%"})
        assert f"/c/{conversation_id}" not in missing.text

        # Delete it: messages and feedback go with it.
        deleted = await browser.post(f"/c/{conversation_id}/delete", data={"csrf_token": csrf})
        assert deleted.status_code == 303
        assert (await browser.get(f"/c/{conversation_id}")).status_code == 404
        assert await count(site, Message) == 0 and await count(site, Feedback) == 0


async def test_refusals_keep_nothing_and_say_why(site: Site) -> None:
    async with site.signed_in("member_a") as browser:
        csrf = await csrf_of(browser)
        cases: list[tuple[dict[str, Any], int]] = [
            ({"content": "   "}, 400),
            ({"content": "x", "model": "nope"}, 404),
            ({"content": 12}, 400),
            ({"content": "x", "conversation_id": "not-a-uuid"}, 400),
            ({"content": "x", "conversation_id": str(uuid.uuid4())}, 404),
            ({"action": "regenerate"}, 400),
            ({"content": "x", "temporary": True, "history": [{"role": "system"}]}, 400),
        ]
        for body, status in cases:
            response, _ = await ask(browser, csrf, **body)
            assert response.status_code == status, (body, response.text)
            assert response.json()["error"]["message"]
        french = (await ask(browser, csrf, content=""))[0].json()["error"]["message"]
        assert french == "Écrivez un message avant de l'envoyer."
        no_csrf = await browser.post("/chat/turn", content=b"{}")
        assert no_csrf.status_code == 403
        broken = await browser.post(
            "/chat/turn", content=b"{not json", headers={"X-CSRF-Token": csrf}
        )
        assert broken.status_code == 400
    assert await count(site, Conversation) == 0


async def test_temporary_conversations_leave_no_trace(site: Site) -> None:
    secret = "Mon numéro de dossier confidentiel est 4242-XYZ"
    async with site.signed_in("member_a") as browser:
        csrf = await csrf_of(browser)
        _response, events = await ask(browser, csrf, content=secret, temporary=True)
        answer = "".join(d["text"] for n, d in events if n == "delta")
        assert answer and [n for n, _ in events][-1] == "done"
        assert not any(n in ("conversation", "title") for n, _ in events)
        history = [{"role": "user", "content": secret}, {"role": "assistant", "content": answer}]
        _response, events = await ask(
            browser, csrf, content="Répète le numéro.", temporary=True, history=history
        )
        assert any(n == "done" for n, _ in events)
    assert await count(site, Conversation) == 0 and await count(site, Message) == 0
    # Nothing of the text anywhere in the database files (SQLite) or tables (PostgreSQL).
    url = site.autan.settings.resolved_database_url
    if url.startswith("sqlite"):
        folder = Path(url.split("///", 1)[1]).parent
        for path in folder.glob("*"):
            if path.is_file():
                assert b"4242-XYZ" not in path.read_bytes(), path
    else:
        engine = create_engine(url)
        async with engine.connect() as connection:
            dump = await connection.execute(text("SELECT * FROM usage_records"))
            assert "4242-XYZ" not in str(dump.all())
        await engine.dispose()


async def test_stopping_an_answer_keeps_what_was_written(site: Site) -> None:
    async with site.signed_in("member_a") as browser:
        csrf = await csrf_of(browser)
        request = browser.build_request(
            "POST",
            "/chat/turn",
            content=orjson.dumps(
                {"action": "send", "content": "Écris un très long poème sur la mer. [slow]"}
            ),
            headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
        )
        response = await browser.send(request, stream=True)
        deltas = 0
        async for chunk in response.aiter_bytes():
            deltas += chunk.count(b"event: delta")
            if deltas >= 3:
                break
        await response.aclose()  # the reader pressed "stop"
        conversation_id = None
        for _ in range(100):
            engine = create_engine(site.autan.settings.resolved_database_url)
            async with session_factory(engine)() as session:
                stopped = await session.scalar(select(Message).where(Message.role == "assistant"))
                conversation_id = await session.scalar(select(Conversation.id))
            await engine.dispose()
            if stopped is not None:
                break
            await asyncio.sleep(0.1)
        assert stopped is not None and stopped.status == "stopped" and stopped.content
        page = await browser.get(f"/c/{conversation_id}")
        assert "Réponse arrêtée." in page.text


async def test_nobody_reaches_another_persons_conversation(site: Site) -> None:
    async with site.signed_in("member_a") as owner:
        csrf = await csrf_of(owner)
        _response, events = await ask(owner, csrf, content="Ma question privée")
        conversation_id = events[0][1]["id"]
        message_id = next(d for n, d in events if n == "done")["message_id"]
    async with site.signed_in("ref_a") as other:  # same organisation, even a referent
        csrf = await csrf_of(other)
        assert (await other.get(f"/c/{conversation_id}")).status_code == 404
        assert (
            await other.get(f"/c/{conversation_id}/messages", params={"before": 5})
        ).status_code == 404
        for path in (f"/c/{conversation_id}/rename", f"/c/{conversation_id}/delete"):
            response = await other.post(path, data={"csrf_token": csrf, "title": "volé"})
            assert response.status_code == 404
        feedback = await other.post(
            f"/messages/{message_id}/feedback", data={"csrf_token": csrf, "rating": "1"}
        )
        assert feedback.status_code == 404
        response, _ = await ask(other, csrf, content="suite", conversation_id=conversation_id)
        assert response.status_code == 404
        assert "Ma question privée" not in (await other.get("/chat/search?q=privée")).text
        assert "Ma question privée" not in (await other.get("/")).text
    assert await count(site, Message) == 2
