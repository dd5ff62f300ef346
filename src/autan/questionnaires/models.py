"""Questionnaires, their answers, and who has answered or dismissed them.

For an anonymous questionnaire the answer row has no user id and no time (only the period),
and the participation row, which does name the person, holds no answer: the two cannot be
joined, yet a person answers once per period.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from autan.core.db import Base, TimestampMixin, new_id


class Period(StrEnum):
    """How often a member is asked: once, or again each calendar month."""

    ONCE = "once"
    MONTHLY = "monthly"


class QuestionKind(StrEnum):
    LIKERT = "likert"  # 1 to 5
    SINGLE = "single"
    MULTIPLE = "multiple"
    TEXT = "text"


class Questionnaire(TimestampMixin, Base):
    __tablename__ = "questionnaires"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    # [{"kind": "likert" | "single" | "multiple" | "text", "text": str, "options": [str]}]
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # None: everyone of the organisation; else only people of this role.
    audience: Mapped[str | None] = mapped_column(String(16), default=None)
    period: Mapped[Period] = mapped_column(String(16), default=Period.ONCE)
    anonymous: Mapped[bool] = mapped_column(default=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )


class QuestionnaireAnswer(Base):
    """One person's answers for one period; `user_id` only when not anonymous, no time."""

    __tablename__ = "questionnaire_answers"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    questionnaire_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("questionnaires.id", ondelete="CASCADE")
    )
    period_key: Mapped[str] = mapped_column(String(7))  # "once" or "2026-12"
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), default=None
    )
    answers: Mapped[list[Any]] = mapped_column(JSON)

    __table_args__ = (Index("ix_questionnaire_answers_q_period", "questionnaire_id", "period_key"),)


class Participation(TimestampMixin, Base):
    """That a person answered (or dismissed) a questionnaire in a period; never what."""

    __tablename__ = "questionnaire_participations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    questionnaire_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("questionnaires.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    period_key: Mapped[str] = mapped_column(String(7))
    answered: Mapped[bool] = mapped_column(default=False)  # False: dismissed

    __table_args__ = (UniqueConstraint("questionnaire_id", "user_id", "period_key"),)
