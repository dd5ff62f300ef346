"""An organisation's retention rule (one row per organisation that set one)."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from autan.core.db import Base, TimestampMixin


class RetentionRule(TimestampMixin, Base):
    """Days after which the purge deletes; None keeps that kind of data without limit."""

    __tablename__ = "retention_rules"

    org_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    # Counted from the conversation's last message.
    conversation_days: Mapped[int | None] = mapped_column(Integer, default=None)
    # Files uploaded to collections, counted from the upload.
    document_days: Mapped[int | None] = mapped_column(Integer, default=None)
    # Per-request usage rows; the daily rollups keep their counts.
    usage_days: Mapped[int | None] = mapped_column(Integer, default=None)
