"""Ask two allowed models the same question, store both answers, take the member's vote.

Both answers go through the gateway on the member's behalf, so usage and quotas count two
calls; both are stored in a new conversation of the member, as any answer is, so retention
applies to them. The comparison row keeps only the two model ids, the use case and the vote.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass
from functools import partial

import anyio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts.model_access import ModelAccess
from autan.accounts.principal import Principal
from autan.arena.errors import AlreadyVoted, ComparisonNotFound, InvalidUseCase, NeedsTwoModels
from autan.arena.leaderboard import MIN_VOTES, Standing, Vote, leaderboard
from autan.arena.models import Comparison, Verdict
from autan.chat import service as chat
from autan.chat.models import Message, MessageRole, MessageStatus
from autan.chat.prompting import system_prompt
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


async def _answer(
    models: ModelClient, principal: Principal, model: str, messages: list[ChatMessage]
) -> tuple[str, MessageStatus, str | None]:
    try:
        text = await models.complete_chat(principal, model, messages, max_tokens=MAX_ANSWER_TOKENS)
    except AutanError as exc:
        return "", MessageStatus.FAILED, exc.message
    return text, MessageStatus.COMPLETE, None


async def compare(
    session: AsyncSession,
    models: ModelClient,
    access: ModelAccess,
    quotas: Quotas,
    principal: Principal,
    question: str,
    use_case: str,
    lang: str,
) -> Comparison:
    """Ask two models, store the question and both answers, return the comparison."""
    check_content(question)
    use_case = clean_use_case(use_case)
    model_a, model_b = await pick_models(access, principal)
    # Two model requests counted as one operation (tokens follow through the gateway's
    # CallFinished events), before anything is stored: the pair is refused whole.
    await quotas.check(principal, requests=2)
    messages: list[ChatMessage] = [
        {"role": "system", "content": system_prompt(lang)},
        {"role": "user", "content": question},
    ]
    conversation = await chat.create(session, principal, model_a)
    conversation.title = fallback_title(question)
    await chat.append(session, conversation, MessageRole.USER, question)
    await session.commit()  # the question is kept even if both models fail
    first, second = await asyncio.gather(
        _answer(models, principal, model_a, messages),
        _answer(models, principal, model_b, messages),
    )
    for model, (text, status, error) in ((model_a, first), (model_b, second)):
        await chat.append(
            session,
            conversation,
            MessageRole.ASSISTANT,
            text,
            model=model,
            status=status,
            error=error,
        )
    comparison = Comparison(
        org_id=principal.org_id,
        user_id=principal.user_id,
        conversation_id=conversation.id,
        model_a=model_a,
        model_b=model_b,
        use_case=use_case,
    )
    session.add(comparison)
    await session.commit()
    return comparison


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
    rows: list[Message] = []
    if comparison.conversation_id is not None:
        rows = list(
            await session.scalars(
                select(Message)
                .where(Message.conversation_id == comparison.conversation_id)
                .order_by(Message.position)
                .limit(3)
            )
        )
    question = rows[0].content if rows else ""
    answers = [m for m in rows if m.role == MessageRole.ASSISTANT]
    by_model = {m.model: m for m in answers}
    return Shown(
        comparison, question, by_model.get(comparison.model_a), by_model.get(comparison.model_b)
    )


async def vote(
    session: AsyncSession, principal: Principal, comparison_id: uuid.UUID, verdict: Verdict
) -> Comparison:
    """Record the member's choice, once; the page then reveals the models."""
    comparison = await owned(session, principal, comparison_id)
    if comparison.verdict is not None:
        raise AlreadyVoted()
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
