"""Ask two allowed models the same question in a conversation, and store both answers.

Both answers go through the gateway on the member's behalf, so usage and quotas count two
calls (checked as one operation: a pair is refused whole). They are grounded as any answer
of the conversation is (`Turns.grounded`: its assistant and collections, the files and Docs
documents attached, the web when asked), once for both, so the two models read the same
sources; each answer is written as a turn's is (`Turns.written`) and stored with its
sources, so retention, export and citations apply to them. The chat (a pair asked from the
composer, streamed side by side) and the /arena form both go through `open_pair` and
`answer_pair`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts.model_access import ModelAccess
from autan.accounts.principal import Principal
from autan.arena.models import Comparison
from autan.arena.service import clean_use_case, owned, pick_models
from autan.assistants.service import usable_assistant
from autan.chat import service as chat
from autan.chat.errors import readable_message
from autan.chat.grounding import Grounded
from autan.chat.models import Conversation, MessageRole, MessageStatus, TitleSource
from autan.chat.titles import fallback_title
from autan.chat.turn_store import Answer, TurnRequest
from autan.chat.turns import Turns, check_content
from autan.core.errors import AutanError
from autan.llm.client import ChatMessage
from autan.quotas.service import Quotas


@dataclass(frozen=True, slots=True)
class Pair:
    """A pair about to be answered: the conversation, its history, the question as a turn."""

    comparison_id: uuid.UUID
    conversation: Conversation  # detached: what the grounding reads of it
    models: tuple[str, str]
    turns: list[ChatMessage]  # the conversation so far, the question last
    request: TurnRequest  # the question's language and id, the Docs documents it may use

    @property
    def conversation_id(self) -> uuid.UUID:
        return self.conversation.id

    @property
    def title(self) -> str:
        return self.conversation.title or ""


@dataclass(frozen=True, slots=True)
class PairEvent:
    """The pair's start, its sources, a piece of one side's answer ("a" or "b") as it
    streams, or that side's end ("done" or "error")."""

    side: str
    kind: str  # "pair", "sources", "delta", "done" or "error"
    text: str = ""
    sources: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Asked:
    """What the member asks two models: the question, its use case and language, and
    where it goes (a conversation of theirs; else a new one, with the assistant chosen)."""

    question: str
    use_case: str = ""
    lang: str = "fr"
    conversation_id: uuid.UUID | None = None
    assistant_id: uuid.UUID | None = None


@dataclass(slots=True)
class _Side:
    model: str
    # Stopped until the answer ends one way or another: a reader who leaves stops it.
    answer: Answer = field(default_factory=lambda: Answer(status=MessageStatus.STOPPED))


async def open_pair(
    session: AsyncSession, access: ModelAccess, quotas: Quotas, principal: Principal, asked: Asked
) -> Pair:
    """Check, count both requests at once, and store the question and the comparison.

    The question goes at the end of the member's conversation (theirs only) or of a new
    one (with the assistant chosen, if they may use it); a refusal stores nothing and
    counts nothing.
    """
    question = check_content(asked.question)
    use_case = clean_use_case(asked.use_case)
    model_a, model_b = await pick_models(access, principal)
    conversation, assistant_id = None, None
    if asked.conversation_id is not None:
        conversation = await chat.claimed(session, principal, asked.conversation_id)
    elif asked.assistant_id is not None:
        assistant_id = (await usable_assistant(session, principal, asked.assistant_id)).id
    # Two model requests counted as one operation (tokens follow through the gateway's
    # CallFinished events), before anything is stored: the pair is refused whole.
    await quotas.check(principal, requests=2)
    if conversation is None:
        conversation = await chat.create(session, principal, model_a, assistant_id)
    if conversation.title_source == TitleSource.PENDING and not conversation.title:
        # As a question's: at once, the question's words (a file attached first left none).
        conversation.title = fallback_title(question)
    turns: list[ChatMessage] = [
        {"role": "user" if m.role == MessageRole.USER else "assistant", "content": m.content}
        for m in await chat.history(session, conversation)
        if m.content
    ]
    turns.append({"role": "user", "content": question})
    stored = await chat.append(session, conversation, MessageRole.USER, question)
    comparison = Comparison(
        org_id=principal.org_id,
        user_id=principal.user_id,
        conversation_id=conversation.id,
        model_a=model_a,
        model_b=model_b,
        use_case=use_case,
    )
    session.add(comparison)
    await session.commit()  # the question is kept even if both models fail
    session.expunge(conversation)
    request = TurnRequest(
        "send",
        content=question,
        conversation_id=conversation.id,
        lang=asked.lang,
        question_id=stored.id,
    )
    return Pair(comparison.id, conversation, (model_a, model_b), turns, request)


async def _stream_side(
    turns: Turns,
    principal: Principal,
    grounded: Grounded,
    name: str,
    side: _Side,
    out: asyncio.Queue[PairEvent],
) -> None:
    try:
        async for event in turns.written(principal, side.model, grounded, side.answer):
            await out.put(PairEvent(name, "delta", event.data["text"]))
    except AutanError as exc:
        side.answer.status, side.answer.error = MessageStatus.FAILED, exc
        await out.put(PairEvent(name, "error", readable_message(exc)))
        return
    side.answer.status = MessageStatus.COMPLETE
    await out.put(PairEvent(name, "done"))


async def answer_pair(
    factory: async_sessionmaker[AsyncSession],
    turns: Turns,
    principal: Principal,
    pair: Pair,
    context_length: int | None = None,
) -> AsyncIterator[PairEvent]:
    """Ground the question once, stream both answers as they come, interleaved; store both
    however they end.

    A reader who stops or leaves (even while the sources are searched) stops both models;
    what they had written is stored as stopped, A before B, and the comparison names the
    two messages. `context_length`: the smaller of the two models'.
    """
    sides = {"a": _Side(pair.models[0]), "b": _Side(pair.models[1])}
    tasks: list[asyncio.Task[None]] = []
    try:
        # Said first, inside this `try`: once the reader has it, both answers get stored.
        yield PairEvent("", "pair")
        try:
            # The first model's judgement serves both (relevance, summaries of long files).
            grounded = await turns.grounded(
                principal,
                pair.request,
                pair.models[0],
                context_length,
                pair.conversation,
                pair.turns,
            )
        except AutanError as exc:
            for name, side in sides.items():
                side.answer.status, side.answer.error = MessageStatus.FAILED, exc
                yield PairEvent(name, "error", readable_message(exc))
            return
        for side in sides.values():
            side.answer.sources = grounded.sources
        if grounded.sources:
            yield PairEvent("", "sources", sources=grounded.sources)
        out: asyncio.Queue[PairEvent] = asyncio.Queue()
        tasks = [
            asyncio.create_task(_stream_side(turns, principal, grounded, name, side, out))
            for name, side in sides.items()
        ]
        ended = 0
        while ended < len(tasks):
            event = await out.get()
            ended += event.kind != "delta"
            yield event
    finally:
        for task in tasks:
            task.cancel()
        with anyio.CancelScope(shield=True):
            await asyncio.gather(*tasks, return_exceptions=True)
            await _store_answers(factory, principal, pair, sides["a"], sides["b"])


async def _store_answers(
    factory: async_sessionmaker[AsyncSession],
    principal: Principal,
    pair: Pair,
    a: _Side,
    b: _Side,
) -> None:
    async with factory() as session:
        comparison = await owned(session, principal, pair.comparison_id)
        conversation = await chat.claimed(session, principal, pair.conversation_id)
        stored = [
            await chat.append(
                session,
                conversation,
                MessageRole.ASSISTANT,
                side.answer.text,
                model=side.model,
                status=side.answer.status,
                error=readable_message(side.answer.error) if side.answer.error else None,
                sources=side.answer.sources or None,
                impacts=side.answer.impacts,
            )
            for side in (a, b)
        ]
        comparison.answer_a_id, comparison.answer_b_id = stored[0].id, stored[1].id
        await session.commit()


async def compare(
    session: AsyncSession,
    factory: async_sessionmaker[AsyncSession],
    turns: Turns,
    access: ModelAccess,
    quotas: Quotas,
    principal: Principal,
    asked: Asked,
    context_length: int | None = None,
) -> uuid.UUID:
    """Ask two models in a new conversation and wait for both answers (the /arena form)."""
    pair = await open_pair(session, access, quotas, principal, asked)
    async for _ in answer_pair(factory, turns, principal, pair, context_length):
        pass
    return pair.comparison_id
