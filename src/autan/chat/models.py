"""Tables of conversations, their messages (one row each) and feedback on answers."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from autan.core.db import Base, TimestampMixin, new_id, utcnow
from autan.core.folding import fold


class TitleSource(StrEnum):
    """Where a conversation's title comes from; only a pending title is replaced."""

    PENDING = "pending"
    MODEL = "model"
    FALLBACK = "fallback"
    USER = "user"


class MessageRole(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"


class MessageStatus(StrEnum):
    """How an answer ended: whole, stopped by its reader, or cut by a failure."""

    COMPLETE = "complete"
    STOPPED = "stopped"
    FAILED = "failed"


class Conversation(TimestampMixin, Base):
    __tablename__ = "conversations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    org_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200), default="")
    title_source: Mapped[TitleSource] = mapped_column(String(16), default=TitleSource.PENDING)
    model: Mapped[str] = mapped_column(String(200))
    # An assistant of the organisation (instructions, collections); kept as a plain id so that
    # deleting an assistant leaves its conversations readable.
    assistant_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    # The composer's "Recherche web" switch, remembered per conversation.
    web_search: Mapped[bool] = mapped_column(default=False, server_default=false())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    # The sidebar lists a person's conversations, most recent first.
    __table_args__ = (
        Index("ix_conversations_user_updated", "user_id", "updated_at"),
        # The retention purge finds an organisation's old conversations.
        Index("ix_conversations_org_updated", "org_id", "updated_at"),
    )


def _folded_content(context: Any) -> str:
    """The message's text folded for search, written with it (a message never changes)."""
    return fold(context.get_current_parameters().get("content") or "")


class Message(Base):
    """One message; `position` orders a conversation and makes windows cheap to read."""

    __tablename__ = "messages"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[MessageRole] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text, default="")
    # `content` folded (lower case, accents off): search compares it as stored instead of
    # folding every message of a person on every search. A column default, so that bulk
    # inserts fill it too.
    folded_content: Mapped[str | None] = mapped_column(Text, default=_folded_content)
    model: Mapped[str | None] = mapped_column(String(200), default=None)
    status: Mapped[MessageStatus] = mapped_column(String(16), default=MessageStatus.COMPLETE)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    # The numbered sources a grounded answer cites (document, page, passage).
    sources: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=None)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    # The answer's energy and CO2 range as the API gives it (`usage.impacts`), if estimated.
    impacts: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("conversation_id", "position"),)


class Feedback(TimestampMixin, Base):
    """A thumbs up or down, with an optional comment, on one answer."""

    __tablename__ = "feedback"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), unique=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    org_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    model: Mapped[str] = mapped_column(String(200))
    rating: Mapped[int] = mapped_column(SmallInteger)  # +1 or -1
    comment: Mapped[str] = mapped_column(Text, default="")
    # The person agreed, at thumbs-down time, that their organisation's referents may export
    # this exchange (question, answer, sources) as an evaluation case. Off unless ticked.
    share_case: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    # The cockpit counts an organisation's ratings since a day, by day and model: from the
    # index alone (migration 0025).
    __table_args__ = (Index("ix_feedback_org_created", "org_id", "created_at", "model"),)
