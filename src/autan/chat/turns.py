"""One turn of a conversation: check the question, ground it, stream the answer.

`Turns.run` is an async generator of events for the page. Every way a turn can end is
written down: a whole answer, an answer stopped by its reader (the page closed the stream),
or a failure, whose message is stored with the answer so a reload shows it with a retry.
What is written, and how a database outage is waited out, is `turn_store.TurnStore`.
A temporary turn stores nothing: the page sends the conversation so far with each question.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any

import anyio
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts.principal import Principal
from autan.chat.errors import (
    AnswerNotStored,
    EmptyMessage,
    InvalidHistory,
    MessageTooLong,
    NothingToRegenerate,
    ServiceBusy,
)
from autan.chat.grounding import ChatGrounding, Grounded
from autan.chat.leakguard import LeakGuard
from autan.chat.models import Conversation, MessageStatus, TitleSource
from autan.chat.prompting import fit, system_prompt
from autan.chat.settings import ChatSettings
from autan.chat.turn_store import Answer, TurnEvent, TurnRequest, TurnStore, id_text
from autan.core.db import database_busy, database_unreachable
from autan.core.errors import AutanError
from autan.llm.client import ChatMessage, ModelClient
from autan.quotas.service import Quotas
from autan.retrieval.grounding import last_user_text
from autan.websearch.chat import WebGrounding
from autan.websearch.errors import WebSearchOff
from autan.websearch.passages import links_in

log = structlog.get_logger(__name__)

MAX_MESSAGE_CHARS = 100_000
MAX_TEMPORARY_TURNS = 200


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
        self._models = models
        self._store = TurnStore(factory, models, settings)
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
        if request.web_search and self._web is not None:
            # Counted here, so that a refusal keeps the question in the composer.
            await self._web.count_search(principal)
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
        conversation, turns = await self._store.stored_question(principal, request, model)
        return conversation, turns

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
        answer = Answer(question_id=request.question_id)
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
                        await self._store.finish(principal, conversation, model, answer)
                    await self._store.title_after_stop(
                        principal, request, model, conversation, turns
                    )
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
        answer: Answer,
    ) -> AsyncGenerator[TurnEvent, None]:
        """The events of a turn; `run` stores an answer this leaves unfinished."""
        if conversation is not None:
            yield TurnEvent(
                "conversation",
                {"id": str(conversation.id), "title": conversation.title},
            )
        try:
            grounded = await self.grounded(
                principal, request, model, context_length, conversation, turns
            )
        except ServiceBusy as exc:
            # Storing a failed answer would wait for the same busy database.
            yield TurnEvent("error", {"error": exc, "message_id": None})
            return
        except AutanError as exc:
            answer.status, answer.error = MessageStatus.FAILED, exc
            yield await self._failed(principal, conversation, model, answer, exc)
            return
        answer.sources = grounded.sources
        if answer.sources:
            yield TurnEvent("sources", {"sources": answer.sources})
        started = time.perf_counter()
        try:
            async for event in self.written(principal, model, grounded, answer):
                yield event
        except AutanError as exc:
            answer.status, answer.error = MessageStatus.FAILED, exc
        try:
            message_id = await self._store.finish(principal, conversation, model, answer)
        except AnswerNotStored as exc:
            yield TurnEvent("error", {"error": exc, "message_id": None})
            return
        log.debug("chat_turn", status=answer.status, seconds=time.perf_counter() - started)
        if answer.error is not None:
            yield TurnEvent("error", {"error": answer.error, "message_id": id_text(message_id)})
        else:
            done = {"message_id": id_text(message_id), "status": str(answer.status)}
            yield TurnEvent("done", done | {"impacts": answer.impacts})
        # A failed answer still deserves a title: the question alone says what it is about.
        if conversation is not None and conversation.title_source == TitleSource.PENDING:
            async for event in self._store.title(principal, request, model, conversation, turns):
                yield event

    async def grounded(
        self,
        principal: Principal,
        request: TurnRequest,
        model: str,
        context_length: int | None,
        conversation: Conversation | None,
        turns: list[ChatMessage],
    ) -> Grounded:
        """The prompt of a turn and its sources: the conversation's assistant, the files and
        Docs documents attached, the web when asked. Every answer of a conversation is
        grounded here, the two answers of a blind pair too; ServiceBusy when the database
        cannot be had right now."""
        messages = fit(system_prompt(request.lang), turns, context_length)
        question = last_user_text(messages)
        grounded = await self._ground(
            principal,
            conversation,
            messages,
            request.lang,
            context_length,
            model,
            request.docs_links,
            request.attached,
        )
        searching = await self._web_on(principal, request, conversation)
        if searching or await self._links_on(principal, question):
            await self._add_web(principal, request, grounded, question, search=searching)
        return grounded

    async def written(
        self, principal: Principal, model: str, grounded: Grounded, answer: Answer
    ) -> AsyncIterator[TurnEvent]:
        """The answer's text as it is written (`answer.text` grows with it): the grounding's
        preface, then the model's words, or the grounding's fixed answer; AutanError when
        the model fails, what it wrote before kept."""
        messages = grounded.messages
        if grounded.preface:
            answer.text += grounded.preface
            yield TurnEvent("delta", {"text": grounded.preface})
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
        # Pieces a fast model writes within `interval` go out as one event: each event costs
        # the server (guard, encoding, a socket write) and the page (a render) the same,
        # whatever its length, and nobody reads faster than 20 updates a second.
        interval = self._settings.stream_interval_ms / 1000.0
        held, sent_at = "", -interval
        try:
            async for text in stream:
                held += text
                now = time.monotonic()
                if now - sent_at < interval:
                    continue
                if shown := _shown(guard.feed(held), answer.text):
                    # Only what was shown starts the interval: the first words are never held.
                    answer.text += shown
                    sent_at = now
                    yield TurnEvent("delta", {"text": shown})
                held = ""
        except AutanError:
            # The model failed mid-answer: what it wrote before is kept and shown.
            if shown := _shown(guard.feed(held), answer.text):
                answer.text += shown
                yield TurnEvent("delta", {"text": shown})
            raise
        if shown := _shown(guard.feed(held) + guard.flush(), answer.text):
            answer.text += shown
            yield TurnEvent("delta", {"text": shown})

    async def _ground(
        self,
        principal: Principal,
        conversation: Conversation | None,
        messages: list[ChatMessage],
        lang: str,
        context_length: int | None,
        model: str,
        docs: list[uuid.UUID] | None = None,
        attached: list[uuid.UUID] | None = None,
    ) -> Grounded:
        """The grounded messages; ServiceBusy when the database cannot be had right now."""
        try:
            return await self._grounding.ground(
                principal, conversation, messages, lang, context_length, model, docs, attached
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
        answer: Answer,
        exc: AutanError,
    ) -> TurnEvent:
        """Store a failed answer; the error event that tells the page."""
        try:
            message_id = await self._store.finish(principal, conversation, model, answer)
        except AnswerNotStored as not_stored:
            return TurnEvent("error", {"error": not_stored, "message_id": None})
        return TurnEvent("error", {"error": exc, "message_id": id_text(message_id)})

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
            counted=bool(request.web_search),
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


def _shown(text: str, so_far: str) -> str:
    """A piece of the answer as shown: an answer does not begin with blanks (left where a
    recited instruction was taken out)."""
    return text if so_far else text.lstrip()


def _endpoint(sources: list[dict[str, Any]]) -> str:
    """How the usage row names the answer: grounded in web pages, in documents, or neither."""
    if not sources:
        return "chat"
    return "chat.web" if any(s.get("url") for s in sources) else "chat.documents"
