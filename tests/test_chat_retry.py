"""Retry after an answer that did not come (issue 17), on SQLite and PostgreSQL, against a
protocol-speaking scripted model: stopped mid-answer, an upstream that dies before its first
word, and a stopped answer stored after its retry has begun. Retrying asks the same question
in the same conversation and never leaves it twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from autan.accounts.models import User
from autan.accounts.principal import Principal
from autan.chat.models import MessageStatus
from autan.chat.settings import ChatSettings
from autan.chat.turn_store import Answer, TurnRequest, TurnStore
from autan.core.db import create_engine, session_factory
from tests.support.chat_turns import csrf_of, messages_of, scripted_site, settled, stopped, turn
from tests.support.web import PEOPLE, Site, parse_events


@pytest.fixture
async def site(tmp_path: Path, database_url: str) -> AsyncIterator[Site]:
    async with scripted_site(tmp_path, database_url) as running:
        yield running


async def test_stopped_mid_answer_keeps_the_words_and_retries_the_same_question(
    site: Site,
) -> None:
    async with site.signed_in("member_a") as browser:
        csrf = await csrf_of(browser)
        # "Arrêter" in the middle of the answer.
        seen = await stopped(
            browser,
            csrf,
            {"action": "send", "content": "Un long exposé [slow]"},
            lambda seen: seen.count(b"event: delta") >= 5,
        )
        conversation_id = parse_events(seen)[0][1]["id"]
        [question, answer] = await settled(site, conversation_id, 2)
        assert question == ("user", "complete", "Un long exposé [slow]")
        assert answer[1] == "stopped" and answer[2].startswith("Voici une réponse")
        assert "Fin de la réponse" not in answer[2]
        page = (await browser.get(f"/c/{conversation_id}")).text
        assert "Réponse arrêtée." in page and "Réessayer" in page and "Copier" in page

        events = await turn(browser, csrf, action="regenerate", conversation_id=conversation_id)
        assert any(name == "done" for name, _ in events)
        rows = await settled(site, conversation_id, 2)
        assert [(role, status) for role, status, _ in rows] == [
            ("user", "complete"),
            ("assistant", "complete"),
        ]
        assert rows[0][2] == "Un long exposé [slow]" and "Fin de la réponse" in rows[1][2]


async def test_an_upstream_dead_before_its_first_word_offers_a_retry(site: Site) -> None:
    async with site.signed_in("member_a") as browser:
        csrf = await csrf_of(browser)
        events = await turn(browser, csrf, content="Une question malchanceuse [dead]")
        names = [name for name, _ in events]
        assert "error" in names and "delta" not in names and "done" not in names
        error = dict(events)["error"]
        assert error["message_id"] and "réessayer" in error["message"].lower()
        conversation_id = events[0][1]["id"]
        [question, answer] = await settled(site, conversation_id, 2)
        assert question[0] == "user" and answer[:2] == ("assistant", "failed")
        assert answer[2] == ""
        page = (await browser.get(f"/c/{conversation_id}")).text
        assert "Réessayer" in page and error["message"] in page

        # The dead replica is out until its next health check (0.2 s here): a Retry meanwhile
        # fails plainly in the same way, and replaces the failed answer.
        for _ in range(50):
            events = await turn(browser, csrf, action="regenerate", conversation_id=conversation_id)
            if any(name == "done" for name, _ in events):
                break
            await asyncio.sleep(0.2)
        assert any(name == "done" for name, _ in events)
        rows = await settled(site, conversation_id, 2)
        assert [(role, status) for role, status, _ in rows] == [
            ("user", "complete"),
            ("assistant", "complete"),
        ]
        assert rows[0][2] == "Une question malchanceuse [dead]"


async def test_retrying_an_older_answer_asks_its_question_and_forgets_what_followed(
    site: Site,
) -> None:
    """The page removes what follows the answer retried; the server does the same."""
    async with site.signed_in("member_a") as browser:
        csrf = await csrf_of(browser)
        events = await turn(browser, csrf, content="Première question")
        conversation_id = events[0][1]["id"]
        await turn(browser, csrf, content="Deuxième question", conversation_id=conversation_id)
        assert len(await settled(site, conversation_id, 4)) == 4
        for wrong in (0, 5, 99):  # not an answer of the conversation
            refused = await browser.post(
                "/chat/turn",
                content=orjson.dumps(
                    {"action": "regenerate", "position": wrong, "conversation_id": conversation_id}
                ),
                headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
            )
            assert refused.status_code == 400, refused.text
        events = await turn(
            browser, csrf, action="regenerate", position=1, conversation_id=conversation_id
        )
        assert any(name == "done" for name, _ in events)
        rows = await settled(site, conversation_id, 2)
        assert [(role, status) for role, status, _ in rows] == [
            ("user", "complete"),
            ("assistant", "complete"),
        ]
        assert rows[0][2] == "Première question" and "Première question" in rows[1][2]


async def test_a_stopped_answer_stored_after_its_retry_began_is_dropped(site: Site) -> None:
    """Stop, then Retry at once: the stopped answer may reach the database after the retry
    has replaced the question's answer; it must not land beside the new one."""
    engine = create_engine(site.autan.settings.resolved_database_url)
    try:
        factory = session_factory(engine)
        async with factory() as session:
            user = await session.scalar(select(User).where(User.email == PEOPLE["member_a"][0]))
            assert user is not None
            me = Principal(user.id, user.org_id, user.email, user.role)
        # Storing answers calls no model: the store is built without one.
        store = TurnStore(factory, None, ChatSettings())  # type: ignore[arg-type]
        asked = TurnRequest("send", content="Une question arrêtée puis reposée")
        conversation, _ = await store.stored_question(me, asked, "scripted")
        retried = TurnRequest("regenerate", conversation_id=conversation.id)
        await store.stored_question(me, retried, "scripted")
        assert retried.question_id is not None and retried.question_id != asked.question_id

        late = Answer(status=MessageStatus.STOPPED, question_id=asked.question_id)
        assert await store.finish(me, conversation, "scripted", late) is None
        fresh = Answer(text="La réponse reposée.", question_id=retried.question_id)
        assert await store.finish(me, conversation, "scripted", fresh) is not None
        # A stopped answer in time is kept, even empty, so the question has its Retry.
        again = TurnRequest("regenerate", conversation_id=conversation.id)
        await store.stored_question(me, again, "scripted")
        stopped = Answer(status=MessageStatus.STOPPED, question_id=again.question_id)
        assert await store.finish(me, conversation, "scripted", stopped) is not None
    finally:
        await engine.dispose()
    rows = await messages_of(site, str(conversation.id))
    assert [(m.role, m.status, m.content) for m in rows] == [
        ("user", "complete", "Une question arrêtée puis reposée"),
        ("assistant", "stopped", ""),
    ]
