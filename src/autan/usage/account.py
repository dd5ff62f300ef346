"""The caller's own usage rows, paged the way the Albert API's `/v1/me/usage` pages them.

Only counts leave this module: a usage row never holds a prompt or an answer, and the
query is always scoped to one user, so one caller cannot read another's rows.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from autan.usage.models import UsageRecord

OrderBy = Literal["datetime", "total_tokens", "cost"]
Direction = Literal["asc", "desc"]
DEFAULT_SPAN = timedelta(days=30)
"""Albert's default window when no `date_from` is given."""


@dataclass(frozen=True, slots=True)
class UsageQuery:
    """Which of the caller's rows to return (Albert's query parameters)."""

    page: int = 1
    limit: int = 50
    order_by: OrderBy = "datetime"
    order_direction: Direction = "desc"
    date_from: int | None = None
    date_to: int | None = None
    model: str | None = None
    endpoint: str | None = None


def _timestamp(value: datetime) -> int:
    # SQLite gives naive datetimes back; every stored instant is UTC.
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


def _row(record: UsageRecord) -> dict[str, Any]:
    total = record.prompt_tokens + record.completion_tokens
    return {
        "id": record.id,
        "datetime": _timestamp(record.created_at),
        "duration": round(record.duration_ms),
        "time_to_first_token": None if record.ttft_ms is None else round(record.ttft_ms),
        "endpoint": record.endpoint,
        "method": "POST",
        "model": record.model,
        "request_model": record.model,
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
        "total_tokens": total,
        # Autan has no price list: nothing is charged, so the cost is 0 rather than unknown.
        "cost": 0.0,
        "status": record.status,
        "kwh_min": record.energy_kwh_min,
        "kwh_max": record.energy_kwh_max,
        "kgco2eq_min": None if record.gwp_g_min is None else record.gwp_g_min / 1000,
        "kgco2eq_max": None if record.gwp_g_max is None else record.gwp_g_max / 1000,
    }


async def usage_page(
    session: AsyncSession, user_id: uuid.UUID, query: UsageQuery, *, now: datetime | None = None
) -> dict[str, Any]:
    """One page of this user's usage rows with the totals of the whole window."""
    now = now or datetime.now(UTC)
    end = datetime.fromtimestamp(query.date_to, UTC) if query.date_to is not None else now
    start = (
        datetime.fromtimestamp(query.date_from, UTC)
        if query.date_from is not None
        else end - DEFAULT_SPAN
    )
    conditions = [
        UsageRecord.user_id == user_id,
        UsageRecord.created_at >= start,
        UsageRecord.created_at <= end,
    ]
    if query.model is not None:
        conditions.append(UsageRecord.model == query.model)
    if query.endpoint is not None:
        conditions.append(UsageRecord.endpoint == query.endpoint)
    tokens = UsageRecord.prompt_tokens + UsageRecord.completion_tokens
    totals = (
        await session.execute(
            select(
                func.count(UsageRecord.id),
                func.coalesce(func.sum(tokens), 0),
                func.coalesce(func.sum(UsageRecord.gwp_g_max), 0.0),
            ).where(*conditions)
        )
    ).one()
    # `cost` is always 0 here, so ordering by it falls back to the time order.
    column: Any = tokens if query.order_by == "total_tokens" else UsageRecord.created_at
    ordered = column.asc() if query.order_direction == "asc" else column.desc()
    tie = UsageRecord.id.asc() if query.order_direction == "asc" else UsageRecord.id.desc()
    records = (
        await session.scalars(
            select(UsageRecord)
            .where(*conditions)
            .order_by(ordered, tie)
            .offset((query.page - 1) * query.limit)
            .limit(query.limit)
        )
    ).all()
    count = int(totals[0])
    pages = math.ceil(count / query.limit) if count else 0
    return {
        "object": "list",
        "data": [_row(record) for record in records],
        "total": count,
        "total_requests": count,
        "total_albert_coins": 0.0,
        "total_tokens": int(totals[1]),
        "total_co2": float(totals[2] or 0.0),
        "page": query.page,
        "limit": query.limit,
        "total_pages": pages,
        "has_more": query.page < pages,
    }
