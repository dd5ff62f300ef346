"""Usage at a glance: requests, tokens, active users and feedback per day, week or month.

Read from the daily rollups (`usage.rollup`), never from the usage rows, so a page costs
the same with a thousand or a million requests. Only counts: nobody's content, nobody's
name. Days are UTC.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Date, and_, cast, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from autan.chat.models import Feedback
from autan.core.db import utcnow
from autan.usage.models import UsageDay, UsageUserDay, UsageUserPeriod
from autan.usage.rollup import MONTH, WEEK

PERIODS = (30, 90, 365)
CHANNELS = ("web", "api")
ROLES = ("member", "referent", "admin")
# Requests that are an answer to a person (not a title, a summary or an embedding).
ANSWER_ENDPOINTS = ("chat", "chat.documents", "chat.web")


_COUNTERS = (
    "requests",
    "prompt_tokens",
    "completion_tokens",
    "answers",
    "with_documents",
    "with_web",
    "via_api",
)


class Granularity(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class Filters:
    """What the cockpit shows: whose usage, over which period, cut how."""

    org_id: uuid.UUID | None  # None: the whole platform (admins only)
    days: int = 30
    granularity: Granularity = Granularity.DAY
    model: str = ""
    channel: str = ""
    role: str = ""

    @property
    def first_day(self) -> date:
        """The period's first day; per week or month, the first day of the first bucket, so
        every bucket is whole and its people are counted from the weekly or monthly rollup."""
        return bucket_of(utcnow().date() - timedelta(days=self.days - 1), self.granularity)

    def clauses(
        self, model: type[UsageDay] | type[UsageUserDay] | type[UsageUserPeriod]
    ) -> list[Any]:
        """The WHERE clauses of these filters over a rollup table."""
        where: list[Any]
        if model is UsageUserPeriod:
            period = WEEK if self.granularity is Granularity.WEEK else MONTH
            where = [UsageUserPeriod.period == period, UsageUserPeriod.start >= self.first_day]
        else:
            where = [model.day >= self.first_day]  # type: ignore[union-attr]
        if self.org_id is not None:
            where.append(model.org_id == self.org_id)
        if self.model:
            where.append(model.model == self.model)
        if self.channel:
            where.append(model.channel == self.channel)
        if self.role:
            where.append(model.role == self.role)
        return where


@dataclass(slots=True)
class Point:
    """The figures of one bucket (a day, a week's Monday, a month's first day) or one model."""

    label: str
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    answers: int = 0
    with_documents: int = 0
    with_web: int = 0
    via_api: int = 0
    active_users: int = 0
    feedback: int = 0
    # EcoLogits' ranges summed by the rollups (kWh, g CO2eq); see `energy_kwh`, `kgco2eq`.
    energy_kwh_min: float = 0.0
    energy_kwh_max: float = 0.0
    gwp_g_min: float = 0.0
    gwp_g_max: float = 0.0

    @property
    def energy_kwh(self) -> float:
        """Energy of the answers, the middle of EcoLogits' range (kWh)."""
        return (self.energy_kwh_min + self.energy_kwh_max) / 2

    @property
    def kgco2eq(self) -> float:
        """Emissions of the answers, the middle of EcoLogits' range (kg CO2eq)."""
        return (self.gwp_g_min + self.gwp_g_max) / 2000

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def feedback_rate(self) -> float | None:
        """Answers rated (thumbs up or down) per answer given, from 0 to 1."""
        return self.feedback / self.answers if self.answers else None


@dataclass(slots=True)
class Overview:
    filters: Filters
    total: Point
    series: list[Point]  # every bucket of the period, oldest first, zeros included
    by_model: list[Point]
    models: list[str] = field(default_factory=list)  # to choose from in the filters


def bucket_of(day: date, granularity: Granularity) -> date:
    """The first day of the bucket that holds `day`."""
    if granularity is Granularity.WEEK:
        return day - timedelta(days=day.weekday())
    if granularity is Granularity.MONTH:
        return day.replace(day=1)
    return day


def buckets(first: date, last: date, granularity: Granularity) -> list[date]:
    """Every bucket from the one holding `first` to the one holding `last`."""
    out: list[date] = []
    current = bucket_of(first, granularity)
    while current <= last:
        out.append(current)
        if granularity is Granularity.MONTH:
            current = (current + timedelta(days=32)).replace(day=1)
        else:
            current += timedelta(days=7 if granularity is Granularity.WEEK else 1)
    return out


def _as_date(value: Any) -> date:
    """SQLite answers 'YYYY-MM-DD' text, PostgreSQL a date."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _sql_bucket(session: AsyncSession, column: Any, granularity: Granularity) -> Any:
    postgres = session.get_bind().dialect.name == "postgresql"
    if granularity is Granularity.DAY:
        return column
    if postgres:
        return cast(func.date_trunc(granularity.value, column), Date)
    if granularity is Granularity.WEEK:
        # The Monday on or before the day: back six days, then forward to the next Monday.
        return func.date(column, "-6 days", "weekday 1")
    return func.date(column, "start of month")


_IMPACTS = ("energy_kwh_min", "energy_kwh_max", "gwp_g_min", "gwp_g_max")


def _sums() -> tuple[Any, ...]:
    answer = UsageDay.endpoint.in_(ANSWER_ENDPOINTS)

    def _sum_if(condition: Any) -> Any:
        return func.coalesce(func.sum(UsageDay.requests).filter(condition), 0)

    return (
        func.coalesce(func.sum(UsageDay.requests), 0),
        func.coalesce(func.sum(UsageDay.prompt_tokens), 0),
        func.coalesce(func.sum(UsageDay.completion_tokens), 0),
        _sum_if(answer),
        _sum_if(UsageDay.endpoint == "chat.documents"),
        _sum_if(UsageDay.endpoint == "chat.web"),
        _sum_if(and_(answer, UsageDay.channel == "api")),
        *(func.coalesce(func.sum(getattr(UsageDay, name)), 0.0) for name in _IMPACTS),
    )


def _fill(point: Point, values: Any) -> None:
    counters = len(_COUNTERS)
    for name, value in zip(_COUNTERS, values[:counters], strict=True):
        setattr(point, name, int(value))
    for name, value in zip(_IMPACTS, values[counters:], strict=True):
        setattr(point, name, float(value))


async def overview(session: AsyncSession, filters: Filters) -> Overview:
    """The cockpit's figures for `filters`: totals, one point per bucket, one per model."""
    gran = filters.granularity
    last = utcnow().date()
    series = {b: Point(b.isoformat()) for b in buckets(filters.first_day, last, gran)}
    total = Point("")
    rows = await session.execute(
        select(UsageDay.day, *_sums()).where(*filters.clauses(UsageDay)).group_by(UsageDay.day)
    )
    for day, *values in rows:
        point = Point("")
        _fill(point, values)
        target = series[bucket_of(_as_date(day), gran)]
        for name in (*_COUNTERS, *_IMPACTS):
            setattr(target, name, getattr(target, name) + getattr(point, name))
            setattr(total, name, getattr(total, name) + getattr(point, name))
    by_model = {}
    for model, *values in await session.execute(
        select(UsageDay.model, *_sums())
        .where(*filters.clauses(UsageDay))
        .group_by(UsageDay.model)
        .order_by(func.sum(UsageDay.requests).desc(), UsageDay.model)
    ):
        by_model[model] = Point(model)
        _fill(by_model[model], values)
    await _active_users(session, filters, series, by_model, total)
    await _feedback(session, filters, series, by_model, total)
    models = await _models(session, filters)
    return Overview(filters, total, list(series.values()), list(by_model.values()), models)


async def _active_users(
    session: AsyncSession,
    filters: Filters,
    series: dict[date, Point],
    by_model: dict[str, Point],
    total: Point,
) -> None:
    # Per week or month, the folded rollup: a few rows per person instead of one per day.
    table = UsageUserDay if filters.granularity is Granularity.DAY else UsageUserPeriod
    where = filters.clauses(table)
    bucket = table.day if table is UsageUserDay else UsageUserPeriod.start
    users = func.count(distinct(table.user_id))
    for day, count in await session.execute(select(bucket, users).where(*where).group_by(bucket)):
        series[_as_date(day)].active_users = int(count)
    for model, count in await session.execute(
        select(table.model, users).where(*where).group_by(table.model)
    ):
        if model in by_model:
            by_model[model].active_users = int(count)
    total.active_users = int(await session.scalar(select(users).where(*where)) or 0)


async def _feedback(
    session: AsyncSession,
    filters: Filters,
    series: dict[date, Point],
    by_model: dict[str, Point],
    total: Point,
) -> None:
    """Ratings per bucket and model (the web interface's; channel and role do not apply)."""
    first = filters.first_day
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    where: list[Any] = [Feedback.created_at >= start]
    if filters.org_id is not None:
        where.append(Feedback.org_id == filters.org_id)
    if filters.model:
        where.append(Feedback.model == filters.model)
    if filters.channel == "api":
        return  # one rates answers in the interface only
    postgres = session.get_bind().dialect.name == "postgresql"
    day = (
        cast(func.timezone("UTC", Feedback.created_at), Date)
        if postgres
        else func.date(Feedback.created_at)
    )
    bucket = _sql_bucket(session, day, filters.granularity)
    for at, count in await session.execute(
        select(bucket, func.count()).where(*where).group_by(bucket)
    ):
        point = series.get(_as_date(at))
        if point is not None:
            point.feedback = int(count)
            total.feedback += int(count)
    for model, count in await session.execute(
        select(Feedback.model, func.count()).where(*where).group_by(Feedback.model)
    ):
        if model in by_model:
            by_model[model].feedback = int(count)


async def _models(session: AsyncSession, filters: Filters) -> list[str]:
    where: list[Any] = [UsageDay.day >= filters.first_day]
    if filters.org_id is not None:
        where.append(UsageDay.org_id == filters.org_id)
    names = await session.scalars(
        select(UsageDay.model).distinct().where(*where).order_by(UsageDay.model)
    )
    found = list(names)
    if filters.model and filters.model not in found:
        found.append(filters.model)
    return found
