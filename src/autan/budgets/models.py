"""Budget rows: an organisation's monthly token budgets and the alerts already raised."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from autan.core.db import Base, UTCDateTime, utcnow

WHOLE_ORG = ""
"""The `role` of the budget of the whole organisation (a primary key cannot hold NULL)."""


class Budget(Base):
    """Tokens (prompt + completion) an organisation, or one role in it, may use per month.

    Collective, unlike quotas: the whole organisation's (or role's) requests count against it.
    The organisation's row is set by an admin and caps what its referents may set per role.
    """

    __tablename__ = "budgets"

    org_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16), primary_key=True, default=WHOLE_ORG)
    tokens_per_month: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(timezone=True), default=utcnow)


class BudgetAlert(Base):
    """That the organisation's referents were alerted of a threshold in a month (once each)."""

    __tablename__ = "budget_alerts"

    org_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    # Which budget: WHOLE_ORG or a role.
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    threshold: Mapped[int] = mapped_column(Integer, primary_key=True)  # percent: 80 or 100
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(timezone=True), default=utcnow)
