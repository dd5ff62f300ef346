"""A blind comparison: one question, two answers of two models, and the member's vote."""

from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from autan.core.db import Base, TimestampMixin, new_id


class Verdict(StrEnum):
    """What the member thought of the two answers."""

    A = "a"
    B = "b"
    TIE = "tie"
    BOTH_BAD = "both_bad"


class Comparison(TimestampMixin, Base):
    """Holds no text: the answers are messages of the member's conversation.

    The conversation may be purged by retention (or deleted by its owner); the vote stays,
    without any link left to what was asked, so the leaderboard keeps its evidence.
    """

    __tablename__ = "arena_comparisons"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"), default=None
    )
    # The two answers, in the conversation wherever the pair was asked (the chat or /arena).
    answer_a_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), default=None
    )
    answer_b_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), default=None
    )
    model_a: Mapped[str] = mapped_column(String(200))
    model_b: Mapped[str] = mapped_column(String(200))
    # The use case: a prompt-library category or a label the member chose ("" for none).
    use_case: Mapped[str] = mapped_column(String(80), default="")
    verdict: Mapped[Verdict | None] = mapped_column(String(16), default=None)

    # The leaderboard reads an organisation's votes, optionally of one use case.
    __table_args__ = (Index("ix_arena_comparisons_org_use_case", "org_id", "use_case"),)
