"""One row per model request: who, which model and replica, how many tokens, how fast.

Never the content of the request or the answer.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from autan.core.db import Base, utcnow


class UsageRecord(Base):
    __tablename__ = "usage_records"
    __table_args__ = (Index("ix_usage_records_user_created", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    org_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), default=None, index=True
    )
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"), default=None
    )
    endpoint: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(200))
    replica: Mapped[str | None] = mapped_column(String(200), default=None)
    stream: Mapped[bool] = mapped_column(default=False)
    status: Mapped[int] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(64), default=None)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    ttft_ms: Mapped[float | None] = mapped_column(default=None)
    duration_ms: Mapped[float] = mapped_column(default=0.0)
    # The requester's role at the time (filters of the cockpit); None for rows written
    # before it was recorded.
    role: Mapped[str | None] = mapped_column(String(16), default=None)
    # Energy (kWh) and CO2 (g CO2eq) of the answer as EcoLogits estimates them, its range;
    # None when the model declares no footprint (llm/impacts.py).
    energy_kwh_min: Mapped[float | None] = mapped_column(Float, default=None)
    energy_kwh_max: Mapped[float | None] = mapped_column(Float, default=None)
    gwp_g_min: Mapped[float | None] = mapped_column(Float, default=None)
    gwp_g_max: Mapped[float | None] = mapped_column(Float, default=None)


NO_ORG = uuid.UUID(int=0)


class UsageDay(Base):
    """Requests and tokens of one day, organisation, model, endpoint, channel and role.

    Kept up to date on every write of usage rows (`usage.rollup`), so the cockpit reads a
    few thousand of these instead of scanning millions of usage rows.
    """

    __tablename__ = "usage_days"
    # One organisation's period (budgets, the cockpit): the primary key starts with the day.
    __table_args__ = (Index("ix_usage_days_org_day", "org_id", "day"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    # No foreign key: the platform-wide figures keep the requests of a deleted organisation
    # (NO_ORG for rows whose organisation was unknown).
    org_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(8), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    errors: Mapped[int] = mapped_column(BigInteger, default=0)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    energy_kwh_min: Mapped[float] = mapped_column(Float, default=0.0)
    energy_kwh_max: Mapped[float] = mapped_column(Float, default=0.0)
    gwp_g_min: Mapped[float] = mapped_column(Float, default=0.0)
    gwp_g_max: Mapped[float] = mapped_column(Float, default=0.0)


class UsageUserDay(Base):
    """That a user made requests on a day (how many), for distinct active-user counts.

    Only ever read aggregated: the cockpit shows how many people, never who.
    """

    __tablename__ = "usage_user_days"
    # Covering every column the cockpit filters and counts on: its distinct-people counts
    # read the index alone, not one table row per index entry (SQLite, migration 0025).
    __table_args__ = (
        Index("ix_usage_user_days_org_day", "org_id", "day", "user_id", "model", "channel", "role"),
    )

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # Erasing a person erases their days: nothing of them is left to count.
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    channel: Mapped[str] = mapped_column(String(8), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)


class UsageUserPeriod(Base):
    """That a user made requests in a week or a month (how many), for the long cockpit views.

    The same counts as `UsageUserDay`, folded by week (`period` "w", `start` a Monday) and by
    month ("m", the first day): the 90- and 365-day views count distinct people over a few
    rows per person instead of one per person and day. Only ever read aggregated.
    """

    __tablename__ = "usage_user_periods"
    __table_args__ = (
        Index(
            "ix_usage_user_periods_org",
            *("org_id", "period", "start", "user_id", "model", "channel", "role"),
        ),
    )

    period: Mapped[str] = mapped_column(String(1), primary_key=True)
    start: Mapped[date] = mapped_column(Date, primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    channel: Mapped[str] = mapped_column(String(8), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
