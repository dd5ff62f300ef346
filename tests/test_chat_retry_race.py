"""Retry right after Stop (issue 17), the narrow race, on SQLite and PostgreSQL: the late
stopped answer and the retry's question written at the same instant. Each test pauses one
path at its most dangerous step (an `asyncio.Event` hook) while the other runs, so the
interleaving is forced, not hoped for; whichever comes first, one answer survives."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts import service as accounts
from autan.accounts.models import Role
from autan.accounts.principal import Principal
from autan.chat import service
from autan.chat.models import Conversation, Message, MessageRole, MessageStatus
from autan.chat.settings import ChatSettings
from autan.chat.turn_store import Answer, TurnRequest, TurnStore
from autan.core.db import create_engine, is_sqlite, session_factory


class Pause:
    """Holds a path at one step: `reached` once it is there, until `go` is set."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self.go = asyncio.Event()

    async def hold(self) -> None:
        self.reached.set()
        await self.go.wait()


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[tuple[TurnStore, Principal]]:
    engine = create_engine(database_url)
    try:
        factory: async_sessionmaker[AsyncSession] = session_factory(engine)
        async with factory() as session:
            user = await accounts.create_user(
                session, "agent@agriculture.gouv.fr", role=Role.MEMBER, org_slug="agri"
            )
            await session.commit()
            me = Principal(user.id, user.org_id, user.email, user.role)
        # Storing questions and answers calls no model: the store is built without one.
        yield TurnStore(factory, None, ChatSettings()), me  # type: ignore[arg-type]
    finally:
        await engine.dispose()


def pause_append(monkeypatch: pytest.MonkeyPatch, role: MessageRole, *, after: bool) -> Pause:
    """Pause the first write of a `role` message, just before it (or just after it, its
    transaction still open)."""
    pause, real = Pause(), service.append

    async def append(
        session: AsyncSession, conversation: Conversation, *args: Any, **kw: Any
    ) -> Message:
        paused = args[0] == role and not pause.reached.is_set()
        if paused and not after:
            await pause.hold()
        message = await real(session, conversation, *args, **kw)
        if paused and after:
            await pause.hold()
        return message

    monkeypatch.setattr(service, "append", append)
    return pause


async def claimed_elsewhere(url: str, conversation_id: uuid.UUID) -> bool:
    """Whether another connection is refused the conversation's row right now, at once."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            if is_sqlite(url):
                await connection.exec_driver_sql("PRAGMA busy_timeout=0")
                probe: Any = (
                    update(Conversation)
                    .where(Conversation.id == conversation_id)
                    .values(message_count=Conversation.message_count)
                )
            else:
                probe = (
                    select(Conversation.id)
                    .where(Conversation.id == conversation_id)
                    .with_for_update(nowait=True)
                )
            try:
                await connection.execute(probe)
            except DBAPIError:
                return True
            finally:
                await connection.rollback()
            return False
    finally:
        await engine.dispose()


async def rows_of(store: TurnStore, conversation_id: uuid.UUID) -> list[tuple[str, str, str]]:
    async with store._factory() as session:
        rows = await session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.position)
        )
        return [(str(m.role), str(m.status), m.content) for m in rows]


async def test_a_retry_waits_for_a_stopped_answer_between_its_check_and_its_write(
    store: tuple[TurnStore, Principal], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stopped answer has seen its question is the last message and is about to write
    itself: the retry's question cannot be written in between, and removes it after."""
    turns, me = store
    asked = TurnRequest("send", content="Une question arrêtée puis reposée")
    conversation, _ = await turns.stored_question(me, asked, "scripted")
    pause = pause_append(monkeypatch, MessageRole.ASSISTANT, after=False)
    late = Answer(text="Début", status=MessageStatus.STOPPED, question_id=asked.question_id)
    storing = asyncio.create_task(turns.finish(me, conversation, "scripted", late))
    await pause.reached.wait()
    assert await claimed_elsewhere(database_url, conversation.id)

    retried = TurnRequest("regenerate", conversation_id=conversation.id)
    retrying = asyncio.create_task(turns.stored_question(me, retried, "scripted"))
    pause.go.set()
    assert await storing is not None  # in time: stored, then replaced by the retry
    await retrying
    fresh = Answer(text="La réponse reposée.", question_id=retried.question_id)
    assert await turns.finish(me, conversation, "scripted", fresh) is not None
    assert await rows_of(turns, conversation.id) == [
        ("user", "complete", "Une question arrêtée puis reposée"),
        ("assistant", "complete", "La réponse reposée."),
    ]


async def test_a_stopped_answer_waits_for_a_retry_that_is_replacing_its_question(
    store: tuple[TurnStore, Principal], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The retry has written the question anew but not committed: the late stopped answer
    waits, then sees the question is no longer its own and is dropped."""
    turns, me = store
    asked = TurnRequest("send", content="Une question arrêtée puis reposée")
    conversation, _ = await turns.stored_question(me, asked, "scripted")
    pause = pause_append(monkeypatch, MessageRole.USER, after=True)
    retried = TurnRequest("regenerate", conversation_id=conversation.id)
    retrying = asyncio.create_task(turns.stored_question(me, retried, "scripted"))
    await pause.reached.wait()
    assert await claimed_elsewhere(database_url, conversation.id)

    late = Answer(text="Début", status=MessageStatus.STOPPED, question_id=asked.question_id)
    storing = asyncio.create_task(turns.finish(me, conversation, "scripted", late))
    pause.go.set()
    await retrying
    assert await storing is None  # too late: the conversation ends with another question
    fresh = Answer(text="La réponse reposée.", question_id=retried.question_id)
    assert await turns.finish(me, conversation, "scripted", fresh) is not None
    assert await rows_of(turns, conversation.id) == [
        ("user", "complete", "Une question arrêtée puis reposée"),
        ("assistant", "complete", "La réponse reposée."),
    ]
