"""Docs documents attached as context, and the personal Docs tokens people save."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from autan.core.db import Base, TimestampMixin, new_id, utcnow


class LinkStatus(StrEnum):
    """Whether an attached Docs document is used as context."""

    OK = "ok"  # read with the person's access at the last check
    LOST = "lost"  # Docs said 403/404: the person may no longer read it; never used again
    UNVERIFIED = "unverified"  # no valid token at the last check: not used until checked


class DocsLink(TimestampMixin, Base):
    """A Docs document attached to a conversation or to an assistant, by one person.

    The text is a copy read through Docs' API with that person's own access; it is used
    only while the last check said they may read it, and refreshed when Docs'
    `updated_at` moves.
    """

    __tablename__ = "docs_links"
    __table_args__ = (
        Index("ix_docs_links_conversation_id", "conversation_id"),
        Index("ix_docs_links_assistant_id", "assistant_id"),
        Index("ix_docs_links_user_id", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), default=None
    )
    assistant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("assistants.id", ondelete="CASCADE"), default=None
    )
    docs_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300), default="")
    content: Mapped[str] = mapped_column(Text, default="")
    docs_updated_at: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[LinkStatus] = mapped_column(String(16), default=LinkStatus.OK)
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)


class DocsToken(TimestampMixin, Base):
    """A person's own Docs token (when they did not sign in through the Suite's provider),
    encrypted with the deployment's secret; never shown again once saved."""

    __tablename__ = "docs_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    ciphertext: Mapped[str] = mapped_column(Text)
