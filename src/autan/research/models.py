"""The table of deep-research runs: one row per run, its steps and sources bounded by its limits."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from autan.core.db import Base, TimestampMixin, new_id, utcnow


class ResearchStatus(StrEnum):
    """Where a run is; the last four are final."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    STOPPED = "stopped"  # by its owner, keeping what was found
    INTERRUPTED = "interrupted"  # its process stopped, keeping what was found
    FAILED = "failed"


FINAL = frozenset(
    {ResearchStatus.DONE, ResearchStatus.STOPPED, ResearchStatus.INTERRUPTED, ResearchStatus.FAILED}
)


class ResearchJob(TimestampMixin, Base):
    __tablename__ = "research_jobs"
    __table_args__ = (
        Index("ix_research_jobs_user_id_created_at", "user_id", "created_at"),
        Index("ix_research_jobs_status", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    question: Mapped[str] = mapped_column(Text)
    lang: Mapped[str] = mapped_column(String(8), default="fr")
    model: Mapped[str] = mapped_column(String(200))
    status: Mapped[ResearchStatus] = mapped_column(String(16), default=ResearchStatus.QUEUED)
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The limits in force when the run was created (seconds, pages, tokens, questions).
    limits: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    plan: Mapped[list[str]] = mapped_column(JSON, default=list)
    # What happened, in order: {"kind": "plan"|"search"|"read"|"skipped"|"limit"|"report", ...}
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # The pages read: {"number", "url", "title", "site", "published", "excerpt", "question"}
    sources: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    report: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text, default=None)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    tokens_used: Mapped[int] = mapped_column(Integer, default=0)
    # Refreshed while the run works (a heartbeat): a stale running row lost its process.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)

    @property
    def final(self) -> bool:
        """Whether the run is over (done, stopped, interrupted or failed)."""
        return self.status in FINAL
