"""Figures for an organisation's referents: feedback on answers, and usage of the models.

Only counts and the comments people wrote with their rating: never the content of a
conversation. Days and weeks are UTC; the bucketing is done by the database (`date()` on
both engines; the week's Monday with SQLite's date modifiers or PostgreSQL's `date_trunc`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, case, cast, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from autan.chat.models import Feedback
from autan.core.db import utcnow
from autan.usage.models import UsageRecord

USAGE_DAYS = 30
FEEDBACK_WEEKS = 12
LATEST_COMMENTS = 50


@dataclass(frozen=True, slots=True)
class Ratings:
    """Thumbs up and down for one model or one week."""

    label: str
    up: int
    down: int

    @property
    def total(self) -> int:
        return self.up + self.down

    @property
    def share_positive(self) -> float | None:
        """The share of thumbs up, from 0 to 1; None without any rating."""
        return self.up / self.total if self.total else None


@dataclass(frozen=True, slots=True)
class Comment:
    comment: str
    rating: int
    model: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class FeedbackSummary:
    overall: Ratings
    by_model: list[Ratings]
    by_week: list[Ratings]  # label: the ISO date of the week's Monday
    comments: list[Comment]


@dataclass(frozen=True, slots=True)
class UsageRow:
    """Requests, tokens and distinct active users of one day or one model."""

    label: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    active_users: int

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class UsageSummary:
    since: date
    total: UsageRow
    by_day: list[UsageRow]  # every day of the period, oldest first, zeros included
    by_model: list[UsageRow]


def _day(session: AsyncSession, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)


def _week(session: AsyncSession, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.date_trunc("week", func.timezone("UTC", column)), Date)
    # The Monday on or before the day: back six days, then forward to the next Monday.
    return func.date(column, "-6 days", "weekday 1")


def _iso_day(value: Any) -> str:
    """SQLite answers 'YYYY-MM-DD' text, PostgreSQL a date: the same label for both."""
    return value.isoformat() if isinstance(value, date) else str(value)[:10]


def _ratings(label: str, up: Any, down: Any) -> Ratings:
    return Ratings(label, int(up or 0), int(down or 0))


async def feedback_summary(session: AsyncSession, org_id: uuid.UUID) -> FeedbackSummary:
    """Ratings per model (all time) and per week (the last twelve), and the latest comments."""
    up = func.sum(case((Feedback.rating > 0, 1), else_=0))
    down = func.sum(case((Feedback.rating < 0, 1), else_=0))
    in_org = Feedback.org_id == org_id
    by_model = [
        _ratings(model, u, d)
        for model, u, d in await session.execute(
            select(Feedback.model, up, down)
            .where(in_org)
            .group_by(Feedback.model)
            .order_by(Feedback.model)
        )
    ]
    week = _week(session, Feedback.created_at)
    since = utcnow() - timedelta(weeks=FEEDBACK_WEEKS)
    by_week = [
        _ratings(_iso_day(w), u, d)
        for w, u, d in await session.execute(
            select(week, up, down)
            .where(in_org, Feedback.created_at >= since)
            .group_by(week)
            .order_by(week.desc())
        )
    ]
    comments = [
        Comment(row.comment, row.rating, row.model, row.created_at)
        for row in await session.scalars(
            select(Feedback)
            .where(in_org, Feedback.comment != "")
            .order_by(Feedback.created_at.desc())
            .limit(LATEST_COMMENTS)
        )
    ]
    overall = Ratings("", sum(r.up for r in by_model), sum(r.down for r in by_model))
    return FeedbackSummary(overall, by_model, by_week, comments)


def _usage_columns() -> tuple[Any, ...]:
    return (
        func.count(),
        func.coalesce(func.sum(UsageRecord.prompt_tokens), 0),
        func.coalesce(func.sum(UsageRecord.completion_tokens), 0),
        func.count(distinct(UsageRecord.user_id)),
    )


def _usage_row(label: str, requests: Any, prompt: Any, completion: Any, users: Any) -> UsageRow:
    return UsageRow(label, int(requests), int(prompt), int(completion), int(users))


async def usage_summary(
    session: AsyncSession, org_id: uuid.UUID, days: int = USAGE_DAYS
) -> UsageSummary:
    """Requests, tokens and active users per day over `days` days, and per model."""
    today = utcnow().date()
    first = today - timedelta(days=days - 1)
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    where = (UsageRecord.org_id == org_id, UsageRecord.created_at >= start)
    day = _day(session, UsageRecord.created_at)
    found = {
        _iso_day(d): _usage_row(_iso_day(d), *rest)
        for d, *rest in await session.execute(
            select(day, *_usage_columns()).where(*where).group_by(day)
        )
    }
    by_day = []
    for offset in range(days):
        label = (first + timedelta(days=offset)).isoformat()
        by_day.append(found.get(label, UsageRow(label, 0, 0, 0, 0)))
    by_model = [
        _usage_row(model, *rest)
        for model, *rest in await session.execute(
            select(UsageRecord.model, *_usage_columns())
            .where(*where)
            .group_by(UsageRecord.model)
            .order_by(func.count().desc(), UsageRecord.model)
        )
    ]
    total = _usage_row("", *(await session.execute(select(*_usage_columns()).where(*where))).one())
    return UsageSummary(first, total, by_day, by_model)
