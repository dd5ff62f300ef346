"""Ask two allowed models the same question, store both answers, take the member's vote.

Both answers go through the gateway on the member's behalf, so usage and quotas count two
calls (checked as one operation: a pair is refused whole); both are stored in the member's
conversation, as any answer is, so retention and export apply to them. The chat (a pair
asked from the composer, streamed side by side) and the /arena form both go through
`open_pair` and `answer_pair`. The comparison row keeps only the two model ids, the use
case, the vote and which two messages are the answers.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial

import anyio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts.model_access import ModelAccess
from autan.accounts.principal import Principal
from autan.arena.errors import AlreadyVoted, ComparisonNotFound, InvalidUseCase, NeedsTwoModels
from autan.arena.leaderboard import MIN_VOTES, Standing, Vote, leaderboard
from autan.arena.models import Comparison, Verdict
from autan.chat import service as chat
from autan.chat.models import Message, MessageRole, MessageStatus
from autan.chat.prompting import fit, system_prompt
from autan.chat.titles import fallback_title
from autan.chat.turns import check_content
from autan.core.errors import AutanError
from autan.llm.client import ChatMessage, ModelClient
from autan.llm.config import ModelType
from autan.quotas.service import Quotas

MAX_USE_CASE = 80
MAX_ANSWER_TOKENS = 1024
# Votes are read for the leaderboard at most this many, the latest first.
MAX_VOTES = 50_000
OUTCOME = {Verdict.A: 1.0, Verdict.B: 0.0, Verdict.TIE: 0.5, Verdict.BOTH_BAD: 0.5}


@dataclass(frozen=True, slots=True)
class Shown:
    """A comparison as its member sees it: answers A and B, models hidden until the vote."""

    comparison: Comparison
    question: str
    answer_a: Message | None
    answer_b: Message | None


@dataclass(frozen=True, slots=True)
class Board:
    """The leaderboard of an organisation (optionally one use case)."""

    standings: list[Standing]
    votes: int
    enough: bool


def clean_use_case(label: str) -> str:
    """The use case as stored: spaces folded; refused past 80 characters."""
    label = " ".join(label.split())
    if len(label) > MAX_USE_CASE:
        raise InvalidUseCase()
    return label


async def pick_models(access: ModelAccess, principal: Principal) -> tuple[str, str]:
    """Two different chat models the member's organisation allows, in random order."""
    allowed = [p.model_id for p in await access.allowed(principal, ModelType.CHAT)]
    if len(set(allowed)) < 2:
        raise NeedsTwoModels()
    first, second = random.sample(sorted(set(allowed)), 2)
    return first, second


@dataclass(frozen=True, slots=True)
class Pair:
    """A pair about to be answered: what both models are asked, and where it is stored."""

    comparison_id: uuid.UUID
    conversation_id: uuid.UUID
    title: str
    models: tuple[str, str]
    messages: list[ChatMessage]


@dataclass(frozen=True, slots=True)
class PairEvent:
    """A piece of one side's answer ("a" or "b") as it streams, or that side's end."""

    side: str
    kind: str  # "delta", "done" or "error"
    text: str


@dataclass(slots=True)
class _Side:
    model: str
    text: str = ""
    status: MessageStatus = MessageStatus.STOPPED  # until the answer ends one way or another
    error: str | None = None


async def open_pair(
    session: AsyncSession,
    access: ModelAccess,
    quotas: Quotas,
    principal: Principal,
    question: str,
    use_case: str,
    lang: str,
    conversation_id: uuid.UUID | None = None,
) -> Pair:
    """Check, count both requests at once, and store the question and the comparison.

    The question goes at the end of the member's conversation (`conversation_id`, theirs
    only) or of a new one; a refusal stores nothing and counts nothing.
    """
    check_content(question)
    use_case = clean_use_case(use_case)
    model_a, model_b = await pick_models(access, principal)
    conversation = (
        await chat.owned(session, principal, conversation_id) if conversation_id else None
    )
    # Two model requests counted as one operation (tokens follow through the gateway's
    # CallFinished events), before anything is stored: the pair is refused whole.
    await quotas.check(principal, requests=2)
    if conversation is None:
        conversation = await chat.create(session, principal, model_a)
        conversation.title = fallback_title(question)
    turns: list[ChatMessage] = [
        {"role": "user" if m.role == MessageRole.USER else "assistant", "content": m.content}
        for m in await chat.history(session, conversation)
        if m.content
    ]
    turns.append({"role": "user", "content": question})
    await chat.append(session, conversation, MessageRole.USER, question)
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
    messages = fit(system_prompt(lang), turns, None)
    return Pair(
        comparison.id, conversation.id, conversation.title or "", (model_a, model_b), messages
    )


async def _stream_side(
    models: ModelClient,
    principal: Principal,
    messages: list[ChatMessage],
    name: str,
    side: _Side,
    out: asyncio.Queue[PairEvent],
) -> None:
    try:
        async for text in models.stream_chat(
            principal, side.model, messages, max_tokens=MAX_ANSWER_TOKENS
        ):
            side.text += text
            await out.put(PairEvent(name, "delta", text))
    except AutanError as exc:
        side.status, side.error = MessageStatus.FAILED, exc.message
        await out.put(PairEvent(name, "error", exc.message))
        return
    side.status = MessageStatus.COMPLETE
    await out.put(PairEvent(name, "done", ""))


async def answer_pair(
    factory: async_sessionmaker[AsyncSession],
    models: ModelClient,
    principal: Principal,
    pair: Pair,
) -> AsyncIterator[PairEvent]:
    """Stream both answers as they come, interleaved; store both however they end.

    A reader who leaves stops both models; what they had written is stored as stopped,
    A before B, and the comparison names the two messages.
    """
    sides = {"a": _Side(pair.models[0]), "b": _Side(pair.models[1])}
    out: asyncio.Queue[PairEvent] = asyncio.Queue()
    tasks = [
        asyncio.create_task(_stream_side(models, principal, pair.messages, name, side, out))
        for name, side in sides.items()
    ]
    try:
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
        conversation = await chat.owned(session, principal, pair.conversation_id)
        stored = [
            await chat.append(
                session,
                conversation,
                MessageRole.ASSISTANT,
                side.text,
                model=side.model,
                status=side.status,
                error=side.error,
            )
            for side in (a, b)
        ]
        comparison.answer_a_id, comparison.answer_b_id = stored[0].id, stored[1].id
        await session.commit()


async def compare(
    session: AsyncSession,
    factory: async_sessionmaker[AsyncSession],
    models: ModelClient,
    access: ModelAccess,
    quotas: Quotas,
    principal: Principal,
    question: str,
    use_case: str,
    lang: str,
) -> uuid.UUID:
    """Ask two models in a new conversation and wait for both answers (the /arena form)."""
    pair = await open_pair(session, access, quotas, principal, question, use_case, lang)
    async for _ in answer_pair(factory, models, principal, pair):
        pass
    return pair.comparison_id


async def owned(
    session: AsyncSession, principal: Principal, comparison_id: uuid.UUID
) -> Comparison:
    """The member's own comparison, or ComparisonNotFound."""
    found = await session.scalar(
        select(Comparison).where(
            Comparison.id == comparison_id, Comparison.user_id == principal.user_id
        )
    )
    if found is None:
        raise ComparisonNotFound()
    return found


async def shown(session: AsyncSession, principal: Principal, comparison_id: uuid.UUID) -> Shown:
    """The member's comparison with its question and two answers (if still kept)."""
    comparison = await owned(session, principal, comparison_id)
    ids = [i for i in (comparison.answer_a_id, comparison.answer_b_id) if i is not None]
    answers = {m.id: m for m in await session.scalars(select(Message).where(Message.id.in_(ids)))}
    answer_a = answers.get(comparison.answer_a_id) if comparison.answer_a_id else None
    answer_b = answers.get(comparison.answer_b_id) if comparison.answer_b_id else None
    question = ""
    first = answer_a or answer_b
    if first is not None:
        question = (
            await session.scalar(
                select(Message.content)
                .where(
                    Message.conversation_id == first.conversation_id,
                    Message.role == MessageRole.USER,
                    Message.position < first.position,
                )
                .order_by(Message.position.desc())
                .limit(1)
            )
            or ""
        )
    return Shown(comparison, question, answer_a, answer_b)


async def vote(
    session: AsyncSession,
    principal: Principal,
    comparison_id: uuid.UUID,
    verdict: Verdict,
    use_case: str | None = None,
) -> Comparison:
    """Record the member's choice (and the use case, if chosen now), once; the page then
    reveals the models."""
    comparison = await owned(session, principal, comparison_id)
    if comparison.verdict is not None:
        raise AlreadyVoted()
    if use_case is not None:
        comparison.use_case = clean_use_case(use_case)
    comparison.verdict = verdict
    await session.commit()
    return comparison


async def use_cases(session: AsyncSession, org_id: uuid.UUID) -> list[str]:
    """The use cases that have votes in the organisation, alphabetically."""
    rows = await session.scalars(
        select(Comparison.use_case)
        .where(Comparison.org_id == org_id, Comparison.verdict.is_not(None))
        .group_by(Comparison.use_case)
        .order_by(Comparison.use_case)
    )
    return [r for r in rows if r]


async def board(
    session: AsyncSession, org_id: uuid.UUID, use_case: str | None = None, *, samples: int = 500
) -> Board:
    """Scores with 95 % intervals from the organisation's votes (one use case, or all)."""
    query = select(Comparison.model_a, Comparison.model_b, Comparison.verdict).where(
        Comparison.org_id == org_id, Comparison.verdict.is_not(None)
    )
    if use_case is not None:
        query = query.where(Comparison.use_case == use_case)
    rows = (
        await session.execute(query.order_by(Comparison.created_at.desc()).limit(MAX_VOTES))
    ).all()
    votes = [Vote(a, b, OUTCOME[Verdict(str(v))]) for a, b, v in rows]
    # The bootstrap is a few tens of milliseconds of NumPy: kept off the event loop.
    standings = await anyio.to_thread.run_sync(partial(leaderboard, votes, samples=samples))
    return Board(standings, len(votes), len(votes) >= MIN_VOTES)


async def vote_count(session: AsyncSession, org_id: uuid.UUID) -> int:
    """How many votes the organisation has cast."""
    count = await session.scalar(
        select(func.count())
        .select_from(Comparison)
        .where(Comparison.org_id == org_id, Comparison.verdict.is_not(None))
    )
    return int(count or 0)


async def recent(session: AsyncSession, principal: Principal, limit: int = 10) -> list[Comparison]:
    """The member's latest comparisons."""
    rows = await session.scalars(
        select(Comparison)
        .where(Comparison.user_id == principal.user_id)
        .order_by(Comparison.created_at.desc())
        .limit(limit)
    )
    return list(rows)


async def pairs_in(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> dict[uuid.UUID, Comparison]:
    """The member's pairs in one of their conversations, by the id of their answer B (the
    chat shows the link to the vote after the pair's second answer)."""
    rows = await session.scalars(
        select(Comparison).where(
            Comparison.conversation_id == conversation_id,
            Comparison.user_id == principal.user_id,
            Comparison.answer_b_id.is_not(None),
        )
    )
    return {c.answer_b_id: c for c in rows if c.answer_b_id is not None}
