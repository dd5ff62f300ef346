"""Translation jobs: the uploaded file, its translation, and how far the work has gone."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from autan.core.db import Base, TimestampMixin, new_id, utcnow


class TranslationStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class TranslationJob(TimestampMixin, Base):
    __tablename__ = "translation_jobs"
    __table_args__ = (
        Index("ix_translation_jobs_user_id_created_at", "user_id", "created_at"),
        Index("ix_translation_jobs_status", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    file_name: Mapped[str] = mapped_column(String(255))
    fmt: Mapped[str] = mapped_column(String(8))  # md, docx or odt
    target_lang: Mapped[str] = mapped_column(String(8))
    model: Mapped[str] = mapped_column(String(200))
    # The file, its result and the segments done may weigh megabytes each: loaded only by
    # what reads them (the worker, the download), not by the list or the progress poll.
    # None once the uploaded file was deleted: a job still running then ends, saying so.
    source: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    result: Mapped[bytes | None] = mapped_column(LargeBinary, default=None, deferred=True)
    status: Mapped[TranslationStatus] = mapped_column(String(16), default=TranslationStatus.QUEUED)
    sections_done: Mapped[int] = mapped_column(Integer, default=0)
    sections_total: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    # Refreshed by the worker holding the job (its lease); stale, another worker takes over.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The translated segments of the first `sections_done` sections, kept across restarts.
    translated: Mapped[list[str] | None] = mapped_column(JSON, default=None, deferred=True)
