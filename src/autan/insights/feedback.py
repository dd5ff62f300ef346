"""Feedback on answers for an organisation's referents (usage lives in `insights.cockpit`).

Only counts and the comments people wrote with their rating: never the content of a
conversation. Days and weeks are UTC; the bucketing is done by the database (`date()` on
both engines; the week's Monday with SQLite's date modifiers or PostgreSQL's `date_trunc`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from autan.chat.models import Feedback
from autan.core.db import utcnow

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
