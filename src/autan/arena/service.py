"""Blind comparisons: two allowed models picked, the member's vote, the leaderboard.

A pair is asked and answered in `pairs`; the comparison row keeps only the two model ids,
the use case, the vote and which two messages are the answers.
"""

from __future__ import annotations

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
from autan.chat.models import Message, MessageRole
from autan.llm.config import ModelType

MAX_USE_CASE = 80
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
