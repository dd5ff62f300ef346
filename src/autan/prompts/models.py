"""The table of saved prompt templates (the built-in ones live in `library.py`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from autan.core.db import Base, TimestampMixin, new_id, utcnow


class Visibility(StrEnum):
    """Who sees a template: its author only, or everyone of the author's organisation."""

    PRIVATE = "private"
    ORGANISATION = "organisation"


class PromptTemplate(TimestampMixin, Base):
    __tablename__ = "prompt_templates"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    owner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(32), default="other")
    body: Mapped[str] = mapped_column(Text)
    visibility: Mapped[Visibility] = mapped_column(String(16), default=Visibility.PRIVATE)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    # The library lists what an organisation shares.
    __table_args__ = (Index("ix_prompt_templates_org_visibility", "org_id", "visibility"),)
