"""One turn of a conversation: store the question, stream the answer, store what came.

`run_turn` is an async generator of events for the page. Every way a turn can end is
written down: a whole answer, an answer stopped by its reader (the page closed the stream),
or a failure, whose message is stored with the answer so a reload shows it with a retry.
A temporary turn stores nothing: the page sends the conversation so far with each question.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
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
    EmptyMessage,
    InvalidHistory,
    MessageTooLong,
    NothingToRegenerate,
    ServiceBusy,
    readable_message,
)
from autan.chat.grounding import ChatGrounding, Grounded
from autan.chat.leakguard import LeakGuard
from autan.chat.models import Conversation, MessageRole, MessageStatus, TitleSource
from autan.chat.prompting import fit, system_prompt
from autan.chat.settings import ChatSettings
from autan.chat.titles import fallback_title, propose_title
from autan.core.db import database_busy, database_unreachable
from autan.core.errors import AutanError
from autan.llm.client import ChatMessage, ModelClient
from autan.llm.gateway import Call
from autan.quotas.service import Quotas
from autan.retrieval.grounding import last_user_text
from autan.websearch.chat import WebGrounding
from autan.websearch.errors import WebSearchOff
from autan.websearch.passages import links_in

log = structlog.get_logger(__name__)

MAX_MESSAGE_CHARS = 100_000
MAX_TEMPORARY_TURNS = 200
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
    position: int | None = None  # the question edited
    temporary: bool = False
    history: list[ChatMessage] = field(default_factory=list)  # temporary turns only
    assistant_id: uuid.UUID | None = None  # a new conversation with an assistant
    lang: str = "fr"
    web_search: bool | None = None  # the composer's switch; None: leave it as it was


@dataclass(frozen=True, slots=True)
class TurnEvent:
    """One event of the stream sent to the page."""

    name: Literal["conversation", "sources", "delta", "done", "title", "error"]
    data: dict[str, Any]


@dataclass(slots=True)
class _Answer:
    text: str = ""
    status: MessageStatus = MessageStatus.COMPLETE
    error: AutanError | None = None
    sources: list[dict[str, Any]] = field(default_factory=list)
    finished: bool = False  # its storing has begun: not to be stored twice
    # Energy and CO2 of the answer (`usage.impacts`), known once the stream has ended.
    impacts: dict[str, Any] | None = None

    def account(self, call: Call) -> None:
        """Keep what the gateway estimated for the answer."""
        self.impacts = call.impacts.as_usage() if call.impacts is not None else None


def check_content(content: str) -> str:
    """A question worth sending, or a clear error."""
    if not content.strip():
        raise EmptyMessage()
    if len(content) > MAX_MESSAGE_CHARS:
        raise MessageTooLong()
    return content


def check_history(history: Sequence[Any]) -> list[ChatMessage]:
    """The temporary conversation the page holds, checked item by item."""
    if not isinstance(history, list) or len(history) > MAX_TEMPORARY_TURNS:
        raise InvalidHistory()
    turns: list[ChatMessage] = []
    for item in history:
        if not isinstance(item, dict):
            raise InvalidHistory()
        role, content = item.get("role"), item.get("content")
        if role not in ("user", "assistant") or not isinstance(content, str):
            raise InvalidHistory()
        if len(content) > MAX_MESSAGE_CHARS:
            raise MessageTooLong()
        turns.append({"role": role, "content": content})
    return turns


class Turns:
    """Runs turns against the models, with the database and quotas of the application."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        models: ModelClient,
        quotas: Quotas,
        settings: ChatSettings,
        grounding: ChatGrounding,
        web: WebGrounding | None = None,
    ) -> None:
        self._grounding = grounding
        self._web = web
        self._factory = factory
        self._models = models
        self._quotas = quotas
        self._settings = settings

    async def prepare(
        self, principal: Principal, request: TurnRequest, model: str
    ) -> tuple[Conversation | None, list[ChatMessage]]:
        """Check the request and the quota, and store the question: before any streaming,
        so that a refusal is an ordinary error and nothing of the question is lost."""
        if request.action != "regenerate":
            check_content(request.content)
        if request.web_search:
            if self._web is None:
                raise WebSearchOff()
            await self._web.check(principal)
        await self._quotas.check(principal)
        if request.temporary:
            turns = check_history(request.history)
            if request.action == "regenerate":
                while turns and turns[-1]["role"] == "assistant":
                    turns.pop()
                if not turns:
                    raise NothingToRegenerate()
            else:
                turns.append({"role": "user", "content": request.content})
            return None, turns
        async with self._factory() as session:
            conversation = await self._store_question(session, principal, request, model)
            turns = [
                {"role": str(m.role), "content": m.content}
                for m in await service.history(session, conversation)
                if m.status != MessageStatus.FAILED or m.content
            ]
            await session.commit()
            session.expunge(conversation)
        return conversation, turns

    async def _store_question(
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
            conversation = await service.owned(session, principal, request.conversation_id)
            conversation.model = model
        if request.web_search is not None:
            conversation.web_search = request.web_search
        if request.action == "regenerate":
            position = await service.last_user_position(session, conversation)
            if position is None:
                raise NothingToRegenerate()
            await service.truncate(session, conversation, position + 1)
            return conversation
        if request.action == "edit":
            position = request.position
            if position is None or not 0 <= position < conversation.message_count:
                raise NothingToRegenerate()
            await service.truncate(session, conversation, position)
        await service.append(session, conversation, MessageRole.USER, request.content)
        if conversation.title_source == TitleSource.PENDING and (
            not conversation.title or conversation.message_count == 1
        ):
            # A provisional title at once (still pending: the model's proposal replaces it).
            conversation.title = fallback_title(request.content)
        return conversation

    async def run(
        self,
        principal: Principal,
        request: TurnRequest,
        model: str,
        context_length: int | None,
        conversation: Conversation | None,
        turns: list[ChatMessage],
    ) -> AsyncIterator[TurnEvent]:
        """Stream the answer; always store how it ended (unless the turn is temporary)."""
        answer = _Answer()
        events = self._answer(
            principal, request, model, context_length, conversation, turns, answer
        )
        try:
            async for event in events:
                yield event
        except BaseException:
            if not answer.finished:
                # The reader stopped the answer or left, maybe before its first word (while
                # sources were searched): keep what was written, marked stopped, so the
                # question is never left unanswered and a reload offers to try again.
                answer.status = MessageStatus.STOPPED
                with anyio.CancelScope(shield=True):
                    # AnswerNotStored is logged; the reader has gone, nobody is left to tell.
                    with contextlib.suppress(AnswerNotStored):
                        await self._finish(principal, conversation, model, answer)
                    await self._title_after_stop(principal, request, model, conversation, turns)
            raise
        finally:
            await events.aclose()

    async def _answer(
        self,
        principal: Principal,
        request: TurnRequest,
        model: str,
        context_length: int | None,
        conversation: Conversation | None,
        turns: list[ChatMessage],
        answer: _Answer,
    ) -> AsyncGenerator[TurnEvent, None]:
        """The events of a turn; `run` stores an answer this leaves unfinished."""
        if conversation is not None:
            yield TurnEvent(
                "conversation",
                {"id": str(conversation.id), "title": conversation.title},
            )
        messages = fit(system_prompt(request.lang), turns, context_length)
        question = last_user_text(messages)
        try:
            grounded = await self._ground(
                principal, conversation, messages, request.lang, context_length, model
            )
            searching = await self._web_on(principal, request, conversation)
            if searching or await self._links_on(principal, question):
                await self._add_web(principal, request, grounded, question, search=searching)
        except ServiceBusy as exc:
            # Storing a failed answer would wait for the same busy database.
            yield TurnEvent("error", {"error": exc, "message_id": None})
            return
        except AutanError as exc:
            answer.status, answer.error = MessageStatus.FAILED, exc
            yield await self._failed(principal, conversation, model, answer, exc)
            return
        messages, answer.sources = grounded.messages, grounded.sources
        if answer.sources:
            yield TurnEvent("sources", {"sources": answer.sources})
        if grounded.preface:
            answer.text = grounded.preface
            yield TurnEvent("delta", {"text": grounded.preface})
        started = time.perf_counter()
        try:
            async for event in self._written(principal, model, messages, grounded, answer):
                yield event
        except AutanError as exc:
            answer.status, answer.error = MessageStatus.FAILED, exc
        try:
            message_id = await self._finish(principal, conversation, model, answer)
        except AnswerNotStored as exc:
            yield TurnEvent("error", {"error": exc, "message_id": None})
            return
        log.debug("chat_turn", status=answer.status, seconds=time.perf_counter() - started)
        if answer.error is not None:
            yield TurnEvent("error", {"error": answer.error, "message_id": _text(message_id)})
        else:
            done = {"message_id": _text(message_id), "status": str(answer.status)}
            yield TurnEvent("done", done | {"impacts": answer.impacts})
        # A failed answer still deserves a title: the question alone says what it is about.
        if conversation is not None and conversation.title_source == TitleSource.PENDING:
            async for event in self._title(principal, request, model, conversation, turns):
                yield event

    async def _written(
        self,
        principal: Principal,
        model: str,
        messages: list[ChatMessage],
        grounded: Grounded,
        answer: _Answer,
    ) -> AsyncIterator[TurnEvent]:
        """The answer's text as it is written: the model's, or the grounding's fixed one."""
        if grounded.answer:
            # The passages found do not answer: the fixed sentence, no model call.
            answer.text += grounded.answer
            yield TurnEvent("delta", {"text": grounded.answer})
            return
        stream = self._models.stream_chat(
            principal,
            model,
            messages,
            endpoint=_endpoint(answer.sources),
            on_finished=answer.account,
            max_tokens=self._settings.max_answer_tokens,
        )
        guard = LeakGuard(str(messages[0].get("content", "")) if messages else "")
        async for text in stream:
            if shown := _shown(guard.feed(text), answer.text):
                answer.text += shown
                yield TurnEvent("delta", {"text": shown})
        if shown := _shown(guard.flush(), answer.text):
            answer.text += shown
            yield TurnEvent("delta", {"text": shown})

    async def _title_after_stop(
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
            async for _event in self._title(principal, request, model, conversation, turns):
                pass

    async def _title(
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

    async def _ground(
        self,
        principal: Principal,
        conversation: Conversation | None,
        messages: list[ChatMessage],
        lang: str,
        context_length: int | None,
        model: str,
    ) -> Grounded:
        """The grounded messages; ServiceBusy when the database cannot be had right now."""
        try:
            return await self._grounding.ground(
                principal, conversation, messages, lang, context_length, model
            )
        except Exception as exc:
            # The stream is already open: a refusal the page shows, not a broken stream.
            if database_busy(exc) or database_unreachable(exc):
                raise ServiceBusy() from exc
            raise

    async def _failed(
        self,
        principal: Principal,
        conversation: Conversation | None,
        model: str,
        answer: _Answer,
        exc: AutanError,
    ) -> TurnEvent:
        """Store a failed answer; the error event that tells the page."""
        try:
            message_id = await self._finish(principal, conversation, model, answer)
        except AnswerNotStored as not_stored:
            return TurnEvent("error", {"error": not_stored, "message_id": None})
        return TurnEvent("error", {"error": exc, "message_id": _text(message_id)})

    async def _add_web(
        self,
        principal: Principal,
        request: TurnRequest,
        grounded: Grounded,
        question: str,
        *,
        search: bool = True,
    ) -> None:
        """Add what the web says to the grounded prompt, numbered after the documents."""
        assert self._web is not None
        web = await self._web.ground(
            principal,
            grounded.messages,
            question,
            "en" if request.lang == "en" else "fr",
            first=len(grounded.sources) + 1,
            search=search,
        )
        grounded.messages = web.messages
        grounded.sources = [*grounded.sources, *web.sources]
        grounded.preface = web.preface + grounded.preface
        if web.sources:
            grounded.answer = ""  # the documents did not answer; the web may

    async def _web_on(
        self, principal: Principal, request: TurnRequest, conversation: Conversation | None
    ) -> bool:
        """The switch of the conversation (or of a temporary turn), if still allowed: an
        organisation that forbade web search since just gets answers without it."""
        wanted = conversation.web_search if conversation is not None else request.web_search
        return bool(wanted) and self._web is not None and await self._web.allowed(principal)

    async def _links_on(self, principal: Principal, question: str) -> bool:
        """Whether the question holds links to read (web access allowed, switch off)."""
        return (
            bool(links_in(question))
            and self._web is not None
            and await self._web.allowed(principal)
        )

    async def _finish(
        self,
        principal: Principal,
        conversation: Conversation | None,
        model: str,
        answer: _Answer,
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
        answer: _Answer,
    ) -> uuid.UUID | None:
        async with self._factory() as session:
            try:
                stored = await service.owned(session, principal, conversation.id)
            except ConversationNotFound:  # deleted while the answer was being written
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


def _shown(text: str, so_far: str) -> str:
    """A piece of the answer as shown: an answer does not begin with blanks (left where a
    recited instruction was taken out)."""
    return text if so_far else text.lstrip()


def _text(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


def _endpoint(sources: list[dict[str, Any]]) -> str:
    """How the usage row names the answer: grounded in web pages, in documents, or neither."""
    if not sources:
        return "chat"
    return "chat.web" if any(s.get("url") for s in sources) else "chat.documents"
