"""Daily rollups of usage rows, maintained in the same transaction as the rows themselves.

The cockpit reads `usage_days` (a few rows per day and model) and `usage_user_days` (one row
per person, day, model and channel, for distinct active-user counts; folded by week and month
in `usage_user_periods` for the long views) instead of scanning the usage rows. All are
upserts that add to the counters, so writing a batch twice would count it twice: they run in
the transaction that inserts the rows.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from autan.usage.models import NO_ORG, UsageDay, UsageRecord, UsageUserDay, UsageUserPeriod

DAYS: Table = UsageDay.__table__  # type: ignore[assignment]
USER_DAYS: Table = UsageUserDay.__table__  # type: ignore[assignment]
USER_PERIODS: Table = UsageUserPeriod.__table__  # type: ignore[assignment]
WEEK, MONTH = "w", "m"
UNKNOWN_ROLE = "unknown"
# Rows per statement when rebuilding: SQLite allows 32,766 bound parameters.
_CHUNK = 2_000
IMPACTS = ("energy_kwh_min", "energy_kwh_max", "gwp_g_min", "gwp_g_max")
COUNTERS = ("requests", "errors", "prompt_tokens", "completion_tokens", *IMPACTS)


def channel(api_key_id: Any) -> str:
    """`api` for a request made with an API key, `web` for one made from the interface."""
    return "api" if api_key_id is not None else "web"


def _day(at: datetime) -> date:
    return (at.astimezone(UTC) if at.tzinfo else at).date()


def _org(row: Mapping[str, Any]) -> uuid.UUID:
    org_id = row.get("org_id")
    return org_id if isinstance(org_id, uuid.UUID) else NO_ORG


def aggregate(
    rows: Iterable[Mapping[str, Any]] | Sequence[Any],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rollup rows (per day, per user-day) that a batch of usage rows adds up to."""
    days: dict[tuple[Any, ...], dict[str, Any]] = {}
    users: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        day, org = _day(row["created_at"]), _org(row)
        chan, role = channel(row.get("api_key_id")), row.get("role") or UNKNOWN_ROLE
        key = (day, org, row["model"], row["endpoint"], chan, role)
        entry = days.get(key)
        if entry is None:
            entry = days[key] = dict(
                zip(("day", "org_id", "model", "endpoint", "channel", "role"), key, strict=True)
            ) | dict.fromkeys(COUNTERS, 0)
        entry["requests"] += 1
        entry["errors"] += 1 if row.get("status", 200) >= 400 else 0
        entry["prompt_tokens"] += row.get("prompt_tokens") or 0
        entry["completion_tokens"] += row.get("completion_tokens") or 0
        for name in IMPACTS:
            entry[name] += row.get(name) or 0.0
        user_id = row.get("user_id")
        if user_id is None:
            continue
        ukey = (day, org, user_id, row["model"], chan, role)
        uentry = users.get(ukey)
        if uentry is None:
            uentry = users[ukey] = dict(
                zip(("day", "org_id", "user_id", "model", "channel", "role"), ukey, strict=True)
            ) | {"requests": 0}
        uentry["requests"] += 1
    return list(days.values()), list(users.values())


def _upsert(session: AsyncSession, table: Table, counters: tuple[str, ...]) -> Any:
    return _upsert_of(session.get_bind().dialect.name, table, counters)


@functools.cache
def _upsert_of(dialect_name: str, table: Table, counters: tuple[str, ...]) -> Any:
    # Built once: each flush would otherwise rebuild and re-key the same statement.
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    statement = dialect.insert(table)
    keys = [c.name for c in table.primary_key.columns]
    return statement.on_conflict_do_update(
        index_elements=keys,
        set_={name: table.c[name] + statement.excluded[name] for name in counters},
    )


def period_start(period: str, day: date) -> date:
    """The Monday of `day`'s week ("w") or the first day of its month ("m")."""
    return day - timedelta(days=day.weekday()) if period == WEEK else day.replace(day=1)


def fold(user_days: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The user-day rollup rows folded into user-week and user-month rows."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in user_days:
        for period in (WEEK, MONTH):
            start = period_start(period, row["day"])
            key: tuple[Any, ...] = (period, start, row["org_id"], row["user_id"])
            key += (row["model"], row["channel"], row["role"])
            entry = out.get(key)
            if entry is None:
                names = ("period", "start", "org_id", "user_id", "model", "channel", "role")
                entry = out[key] = dict(zip(names, key, strict=True)) | {"requests": 0}
            entry["requests"] += row["requests"]
    return list(out.values())


async def add(session: AsyncSession, rows: Iterable[Mapping[str, Any]] | Sequence[Any]) -> None:
    """Add a batch of usage rows to the rollups (inside the caller's transaction)."""
    days, users = aggregate(rows)
    # Sorted: two processes flushing at once take the row locks in the same order.
    days.sort(key=lambda r: (r["day"], str(r["org_id"]), r["model"], r["endpoint"]))
    users.sort(key=lambda r: (r["day"], str(r["org_id"]), str(r["user_id"]), r["model"]))
    periods = fold(users)
    periods.sort(key=lambda r: (r["period"], r["start"], str(r["org_id"]), str(r["user_id"])))
    counters = COUNTERS
    for start in range(0, len(days), _CHUNK):
        await session.execute(_upsert(session, DAYS, counters), days[start : start + _CHUNK])
    for start in range(0, len(users), _CHUNK):
        await session.execute(
            _upsert(session, USER_DAYS, ("requests",)), users[start : start + _CHUNK]
        )
    for start in range(0, len(periods), _CHUNK):
        await session.execute(
            _upsert(session, USER_PERIODS, ("requests",)), periods[start : start + _CHUNK]
        )


async def rebuild(session: AsyncSession, org_id: uuid.UUID | None = None) -> None:
    """Recompute the rollups from the usage rows (all, or one organisation's).

    For rows written before the rollups existed, and after bulk loads (`autan demo seed`).
    """
    where_days: list[Any] = []
    where_rows: list[Any] = []
    if org_id is not None:
        where_days.append(UsageDay.org_id == org_id)
        where_rows.append(UsageRecord.org_id == org_id)
    await session.execute(delete(UsageDay).where(*where_days))
    await session.execute(
        delete(UsageUserDay).where(*[UsageUserDay.org_id == org_id] if org_id else [])
    )
    await session.execute(
        delete(UsageUserPeriod).where(*[UsageUserPeriod.org_id == org_id] if org_id else [])
    )
    columns = (
        UsageRecord.created_at,
        UsageRecord.org_id,
        UsageRecord.user_id,
        UsageRecord.api_key_id,
        UsageRecord.model,
        UsageRecord.endpoint,
        UsageRecord.role,
        UsageRecord.status,
        UsageRecord.prompt_tokens,
        UsageRecord.completion_tokens,
        *(UsageRecord.__table__.c[name] for name in IMPACTS),
    )
    stream = await session.stream(
        select(*columns)
        .where(*where_rows)
        .order_by(UsageRecord.id)
        .execution_options(yield_per=50_000)
    )
    async for partition in stream.mappings().partitions():
        await add(session, partition)


async def count_rows(session: AsyncSession) -> int:
    """How many day rows the rollup holds (for tests and benchmarks)."""
    return int(await session.scalar(select(func.count()).select_from(UsageDay)) or 0)
