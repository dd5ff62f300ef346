"""Where a turn's words are kept: the question, the answer however it ended, the title.

The answer is kept in memory and written once the turn ends; a database outage or overload
is waited out (`STORE_RETRY_DELAYS`), so nothing the reader saw is lost to a restart. A
conversation's first turn also gets a title, proposed by the model.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts.principal import Principal
from autan.assistants.service import usable_assistant
from autan.chat import service
from autan.chat.errors import (
    AnswerNotStored,
    ConversationNotFound,
    NothingToRegenerate,
    readable_message,
)
from autan.chat.grounding import ready_attachments
from autan.chat.models import Conversation, Message, MessageRole, MessageStatus, TitleSource
from autan.chat.settings import ChatSettings
from autan.chat.titles import fallback_title, propose_title
from autan.core.db import database_busy, database_unreachable
from autan.core.errors import AutanError
from autan.llm.client import ChatMessage, ModelClient
from autan.llm.gateway import Call

log = structlog.get_logger(__name__)

# A database restart (failover, upgrade, crash recovery) takes seconds: the answer is kept
# in memory and written once the database is back, if it is back within these waits (about
# 16 s in all; the page has shown the whole answer meanwhile and only waits for `done`).
STORE_RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
TITLE_AFTER_STOP_SECONDS = 15.0

Action = Literal["send", "edit", "regenerate"]


@dataclass(slots=True)
class TurnRequest:
    """What the page asks for: a new question, an edited one, or another answer."""

    action: Action
    content: str = ""
    model: str | None = None
    conversation_id: uuid.UUID | None = None
    position: int | None = None  # the question edited, or the answer asked again
    temporary: bool = False
    history: list[ChatMessage] = field(default_factory=list)  # temporary turns only
    assistant_id: uuid.UUID | None = None  # a new conversation with an assistant
    lang: str = "fr"
    web_search: bool | None = None  # the composer's switch; None: leave it as it was
    question_id: uuid.UUID | None = None  # the stored question, once it is stored
    # Docs documents checked with the person's access just before this turn (suitedocs).
    docs_links: list[uuid.UUID] = field(default_factory=list)
    # The conversation's files ready to be searched, read with the question (None: unknown).
    attached: list[uuid.UUID] | None = None


@dataclass(frozen=True, slots=True)
class TurnEvent:
    """One event of the stream sent to the page."""

    name: Literal["conversation", "sources", "delta", "done", "title", "error"]
    data: dict[str, Any]


@dataclass(slots=True)
class Answer:
    """What a turn has answered so far, and how it ended."""

    text: str = ""
    status: MessageStatus = MessageStatus.COMPLETE
    error: AutanError | None = None
    sources: list[dict[str, Any]] = field(default_factory=list)
    finished: bool = False  # its storing has begun: not to be stored twice
    # Energy and CO2 of the answer (`usage.impacts`), known once the stream has ended.
    impacts: dict[str, Any] | None = None
    question_id: uuid.UUID | None = None  # the stored question it answers

    @property
    def may_be_superseded(self) -> bool:
        """Whether this is a stopped answer, which a retry may have replaced meanwhile."""
        return self.status == MessageStatus.STOPPED and self.question_id is not None

    def superseded(self, last: Message | None) -> bool:
        """Whether this stopped answer came too late: the conversation no longer ends with
        its question (a retry or an edit has replaced it meanwhile)."""
        if not self.may_be_superseded:
            return False
        return last is None or last.id != self.question_id

    def account(self, call: Call) -> None:
        """Keep what the gateway estimated for the answer."""
        self.impacts = call.impacts.as_usage() if call.impacts is not None else None


class TurnStore:
    """Stores the questions, answers and titles of turns, each in its own short transaction."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        models: ModelClient,
        settings: ChatSettings,
    ) -> None:
        self._factory = factory
        self._models = models
        self._settings = settings

    async def stored_question(
        self, principal: Principal, request: TurnRequest, model: str
    ) -> tuple[Conversation, list[ChatMessage]]:
        """Store the question (or the edit, or the truncation to regenerate); the history."""
        async with self._factory() as session:
            conversation = await self.store_question(session, principal, request, model)
            if request.conversation_id is None:
                # Just created: it holds the question only, and no file yet.
                turns: list[ChatMessage] = [{"role": "user", "content": request.content}]
                request.attached = []
            else:
                turns = [
                    {"role": str(m.role), "content": m.content}
                    for m in await service.history(session, conversation)
                    if m.status != MessageStatus.FAILED or m.content
                ]
                # Read here rather than by the grounding: most turns have no file, and a
                # transaction saved is three round trips before the first word.
                request.attached = await ready_attachments(session, principal, conversation.id)
            await session.commit()
            session.expunge(conversation)
        return conversation, turns

    async def store_question(
        self, session: AsyncSession, principal: Principal, request: TurnRequest, model: str
    ) -> Conversation:
        if request.conversation_id is None:
            if request.action != "send":
                raise NothingToRegenerate()
            assistant_id = None
            if request.assistant_id is not None:
                assistant_id = (await usable_assistant(session, principal, request.assistant_id)).id
            conversation = await service.create(session, principal, model, assistant_id)
        else:
            conversation = await service.claimed(session, principal, request.conversation_id)
            conversation.model = model
        if request.web_search is not None:
            conversation.web_search = request.web_search
        if request.action == "regenerate":
            request.question_id = await _ask_again(session, conversation, request.position)
            return conversation
        if request.action == "edit":
            position = request.position
            if position is None or not 0 <= position < conversation.message_count:
                raise NothingToRegenerate()
            await service.truncate(session, conversation, position)
        if conversation.title_source == TitleSource.PENDING and (
            not conversation.title or conversation.message_count == 0
        ):
            # A provisional title at once (still pending: the model's proposal replaces it),
            # written with the question.
            conversation.title = fallback_title(request.content)
        stored = await service.append(session, conversation, MessageRole.USER, request.content)
        request.question_id = stored.id
        return conversation

    async def title_after_stop(
        self,
        principal: Principal,
        request: TurnRequest,
        model: str,
        conversation: Conversation | None,
        turns: list[ChatMessage],
    ) -> None:
        """A stopped first answer still gets the model's title, for the sidebar the reader
        comes back to; bounded, as nobody waits for it."""
        if conversation is None or conversation.title_source != TitleSource.PENDING:
            return
        with anyio.move_on_after(TITLE_AFTER_STOP_SECONDS):
            async for _event in self.title(principal, request, model, conversation, turns):
                pass

    async def title(
        self,
        principal: Principal,
        request: TurnRequest,
        model: str,
        conversation: Conversation,
        turns: list[ChatMessage],
    ) -> AsyncIterator[TurnEvent]:
        """Propose a title for a conversation that has none yet, and store it."""
        first = next((t["content"] for t in turns if t["role"] == "user"), "")
        title, by_model = await propose_title(
            self._models,
            principal,
            model,
            str(first),
            request.lang,
            max_tokens=self._settings.title_tokens,
        )
        source = TitleSource.MODEL if by_model else TitleSource.FALLBACK
        try:
            async with self._factory() as session:
                stored = await service.set_title(session, conversation.id, title, source)
        except Exception as exc:
            if not (database_busy(exc) or database_unreachable(exc)):
                raise
            # The answer is stored; the title stays pending and is proposed next turn.
            log.warning("chat_title_not_stored", conversation_id=str(conversation.id))
            return
        if stored:
            yield TurnEvent("title", {"id": str(conversation.id), "title": title})

    async def finish(
        self,
        principal: Principal,
        conversation: Conversation | None,
        model: str,
        answer: Answer,
    ) -> uuid.UUID | None:
        """Store the answer, waiting out a database outage or overload; AnswerNotStored past it."""
        answer.finished = True
        if conversation is None:
            return None
        for delay in (*STORE_RETRY_DELAYS, None):
            try:
                return await self._store_answer(principal, conversation, model, answer)
            except Exception as exc:
                if not (database_busy(exc) or database_unreachable(exc)):
                    raise
                if delay is None:
                    log.error(
                        "chat_answer_not_stored",
                        conversation_id=str(conversation.id),
                        characters=len(answer.text),
                        error=repr(exc),
                    )
                    raise AnswerNotStored() from exc
                log.warning("chat_answer_store_retry", conversation_id=str(conversation.id))
                await anyio.sleep(delay)
        raise AssertionError("unreachable")

    async def _store_answer(
        self,
        principal: Principal,
        conversation: Conversation,
        model: str,
        answer: Answer,
    ) -> uuid.UUID | None:
        async with self._factory() as session:
            try:
                # Claimed before the check below: a retry cannot replace the question between
                # the check and the write (service.claimed).
                stored = await service.claimed(session, principal, conversation.id)
            except ConversationNotFound:  # deleted while the answer was being written
                return None
            # Only a stopped answer can have been replaced: the others spare the query.
            if answer.may_be_superseded and answer.superseded(
                await service.message_at(session, stored, stored.message_count - 1)
            ):
                log.info("chat_stopped_answer_superseded", conversation_id=str(stored.id))
                return None
            message = await service.append(
                session,
                stored,
                MessageRole.ASSISTANT,
                answer.text,
                model=model,
                status=answer.status,
                error=readable_message(answer.error) if answer.error is not None else None,
                sources=answer.sources or None,
                impacts=answer.impacts,
            )
            await session.commit()
            return message.id


async def _ask_again(
    session: AsyncSession, conversation: Conversation, answer: int | None
) -> uuid.UUID:
    """Forget an answer (at position `answer`, else the last) and what followed it, and write
    its question anew (same words, same place, one row); the new question's id. An answer of
    the turn replaced, stopped and stored late, then sees the question is not its own."""
    if answer is not None and not 0 < answer <= conversation.message_count:
        raise NothingToRegenerate()
    position = await service.last_user_position(session, conversation, before=answer)
    question = (
        None if position is None else await service.message_at(session, conversation, position)
    )
    if position is None or question is None:
        raise NothingToRegenerate()
    await service.truncate(session, conversation, position)
    return (await service.append(session, conversation, MessageRole.USER, question.content)).id


def id_text(value: uuid.UUID | None) -> str | None:
    """An id as the page reads it."""
    return str(value) if value is not None else None
