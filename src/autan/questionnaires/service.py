"""Write, send, answer and read questionnaires; every query is scoped to one organisation.

A member answers once per period: the participation row (who, which period, answered or
dismissed) is written in the same transaction as the answer, and its unique constraint
refuses a second one. For an anonymous questionnaire the answer row carries neither the
person nor a time, so the two rows cannot be joined.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts import audit
from autan.accounts.models import Role, User
from autan.accounts.principal import Principal
from autan.core.db import utcnow
from autan.questionnaires.errors import (
    AlreadyAnswered,
    InvalidAnswer,
    InvalidQuestionnaire,
    QuestionnaireNotFound,
)
from autan.questionnaires.models import (
    Participation,
    Period,
    QuestionKind,
    Questionnaire,
    QuestionnaireAnswer,
)

MAX_TITLE = 200
MAX_QUESTIONS = 10
MAX_QUESTION = 300
MAX_OPTIONS = 8
MAX_OPTION = 100
MAX_TEXT_ANSWER = 2000
LIKERT = (1, 2, 3, 4, 5)


@dataclass(frozen=True, slots=True)
class Draft:
    """A questionnaire as the referent's form gives it."""

    title: str
    questions: list[dict[str, Any]]
    audience: Role | None
    period: Period
    anonymous: bool


def period_key(questionnaire: Questionnaire, today: date | None = None) -> str:
    """The period an answer given today belongs to: "once", or the month ("2026-12")."""
    if questionnaire.period == Period.MONTHLY:
        return (today or utcnow().date()).strftime("%Y-%m")
    return "once"


def check_draft(draft: Draft) -> Draft:
    """The draft with spaces folded, or InvalidQuestionnaire saying what to fix."""
    title = " ".join(draft.title.split())
    if not title or len(title) > MAX_TITLE:
        raise InvalidQuestionnaire(
            "Give the questionnaire a title of 1 to 200 characters.", param="title"
        )
    questions = [q for q in draft.questions if str(q.get("text", "")).strip()]
    if not questions:
        raise InvalidQuestionnaire("Write at least one question.", param="questions")
    if len(questions) > MAX_QUESTIONS:
        raise InvalidQuestionnaire("A questionnaire has at most 10 questions.", param="questions")
    cleaned = []
    for number, question in enumerate(questions, start=1):
        text = " ".join(str(question["text"]).split())
        kind = QuestionKind(question.get("kind", QuestionKind.LIKERT))
        if len(text) > MAX_QUESTION:
            raise InvalidQuestionnaire(
                "Question {number} is longer than 300 characters.", param="questions", number=number
            )
        options = [" ".join(str(o).split())[:MAX_OPTION] for o in question.get("options", [])]
        options = [o for o in options if o]
        if (
            kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE)
            and not 2 <= len(options) <= MAX_OPTIONS
        ):
            raise InvalidQuestionnaire(
                "Question {number} needs 2 to 8 choices, one per line.",
                param="questions",
                number=number,
            )
        if kind not in (QuestionKind.SINGLE, QuestionKind.MULTIPLE):
            options = []
        cleaned.append({"kind": str(kind), "text": text, "options": options})
    return Draft(title, cleaned, draft.audience, draft.period, draft.anonymous)


async def create(
    session: AsyncSession, org_id: uuid.UUID, author: Principal, draft: Draft
) -> Questionnaire:
    """Save and send a questionnaire to the organisation (or one role of it)."""
    draft = check_draft(draft)
    questionnaire = Questionnaire(
        org_id=org_id,
        title=draft.title,
        questions=draft.questions,
        audience=str(draft.audience) if draft.audience else None,
        period=draft.period,
        anonymous=draft.anonymous,
        created_by=author.user_id,
    )
    session.add(questionnaire)
    await session.flush()  # the id, for the audit row
    audit.record(
        session,
        audit.Action.QUESTIONNAIRE_CREATED,
        actor_id=author.user_id,
        org_id=org_id,
        target=questionnaire.title,  # what a reader of the log recognises
        questionnaire_id=str(questionnaire.id),
        audience=questionnaire.audience,
        period=str(questionnaire.period),
        anonymous=questionnaire.anonymous,
        questions=len(questionnaire.questions),
    )
    await session.commit()
    return questionnaire


async def of_org(session: AsyncSession, org_id: uuid.UUID) -> list[Questionnaire]:
    """The organisation's questionnaires, newest first."""
    rows = await session.scalars(
        select(Questionnaire)
        .where(Questionnaire.org_id == org_id)
        .order_by(Questionnaire.created_at.desc())
    )
    return list(rows)


async def managed(
    session: AsyncSession, org_id: uuid.UUID, questionnaire_id: uuid.UUID
) -> Questionnaire:
    """A questionnaire of the organisation, or QuestionnaireNotFound."""
    found = await session.scalar(
        select(Questionnaire).where(
            Questionnaire.id == questionnaire_id, Questionnaire.org_id == org_id
        )
    )
    if found is None:
        raise QuestionnaireNotFound()
    return found


async def set_active(
    session: AsyncSession,
    org_id: uuid.UUID,
    questionnaire_id: uuid.UUID,
    active: bool,
    actor: Principal,
) -> None:
    """Open or close a questionnaire (closed ones are no longer shown to members), audited."""
    questionnaire = await managed(session, org_id, questionnaire_id)
    if questionnaire.active == active:
        return  # a second click on the same button changes nothing and audits nothing
    questionnaire.active = active
    audit.record(
        session,
        audit.Action.QUESTIONNAIRE_REOPENED if active else audit.Action.QUESTIONNAIRE_CLOSED,
        actor_id=actor.user_id,
        org_id=org_id,
        target=questionnaire.title,
        questionnaire_id=str(questionnaire.id),
    )
    await session.commit()


def _meant_for(principal: Principal) -> Any:
    return (
        Questionnaire.org_id == principal.org_id,
        Questionnaire.active.is_(True),
        or_(Questionnaire.audience.is_(None), Questionnaire.audience == str(principal.role)),
    )


async def pending(session: AsyncSession, principal: Principal) -> list[Questionnaire]:
    """Questionnaires for the member that they have neither answered nor dismissed this period."""
    candidates = list(
        await session.scalars(
            select(Questionnaire).where(*_meant_for(principal)).order_by(Questionnaire.created_at)
        )
    )
    if not candidates:
        return []
    seen = set(
        (
            await session.execute(
                select(Participation.questionnaire_id, Participation.period_key).where(
                    Participation.user_id == principal.user_id,
                    Participation.questionnaire_id.in_([q.id for q in candidates]),
                )
            )
        ).all()
    )
    return [q for q in candidates if (q.id, period_key(q)) not in seen]


async def for_member(
    session: AsyncSession, principal: Principal, questionnaire_id: uuid.UUID
) -> Questionnaire:
    """A questionnaire meant for the member, or QuestionnaireNotFound."""
    found = await session.scalar(
        select(Questionnaire).where(Questionnaire.id == questionnaire_id, *_meant_for(principal))
    )
    if found is None:
        raise QuestionnaireNotFound()
    return found


def check_answers(questions: Sequence[dict[str, Any]], given: Sequence[Any]) -> list[Any]:
    """The answers in stored form (None where skipped), or InvalidAnswer."""
    answers: list[Any] = []
    for number, (question, value) in enumerate(zip(questions, given, strict=True), start=1):
        kind = question["kind"]
        options = question.get("options", [])
        if value in (None, "", []):
            answers.append(None)
        elif kind == QuestionKind.LIKERT and value in LIKERT:
            answers.append(int(value))
        elif kind == QuestionKind.SINGLE and isinstance(value, int) and 0 <= value < len(options):
            answers.append(value)
        elif (
            kind == QuestionKind.MULTIPLE
            and isinstance(value, list)
            and all(isinstance(v, int) and 0 <= v < len(options) for v in value)
        ):
            answers.append(sorted(set(value)))
        elif kind == QuestionKind.TEXT and isinstance(value, str) and len(value) <= MAX_TEXT_ANSWER:
            answers.append(value.strip())
        else:
            raise InvalidAnswer(
                "The answer to question {number} is not one of its choices.",
                param=f"q{number - 1}",
                number=number,
            )
    if all(a is None for a in answers):
        raise InvalidAnswer("Answer at least one question, or dismiss the questionnaire.")
    return answers


async def _participate(
    session: AsyncSession, principal: Principal, questionnaire: Questionnaire, answered: bool
) -> str:
    key = period_key(questionnaire)
    taken = await session.scalar(
        select(Participation.id).where(
            Participation.questionnaire_id == questionnaire.id,
            Participation.user_id == principal.user_id,
            Participation.period_key == key,
        )
    )
    if taken is not None:
        raise AlreadyAnswered()
    session.add(
        Participation(
            questionnaire_id=questionnaire.id,
            user_id=principal.user_id,
            period_key=key,
            answered=answered,
        )
    )
    try:
        await session.flush()
    except IntegrityError:
        # Two answers sent at once: the unique constraint keeps the first.
        await session.rollback()
        raise AlreadyAnswered() from None
    return key


async def answer(
    session: AsyncSession, principal: Principal, questionnaire_id: uuid.UUID, given: Sequence[Any]
) -> None:
    """Store the member's answers for this period (without their id if anonymous)."""
    questionnaire = await for_member(session, principal, questionnaire_id)
    answers = check_answers(questionnaire.questions, given)
    key = await _participate(session, principal, questionnaire, True)
    session.add(
        QuestionnaireAnswer(
            questionnaire_id=questionnaire.id,
            period_key=key,
            user_id=None if questionnaire.anonymous else principal.user_id,
            answers=answers,
        )
    )
    await session.commit()


async def dismiss(session: AsyncSession, principal: Principal, questionnaire_id: uuid.UUID) -> None:
    """Not this period: the questionnaire is no longer shown to the member until the next."""
    questionnaire = await for_member(session, principal, questionnaire_id)
    await _participate(session, principal, questionnaire, False)
    await session.commit()


async def audience_size(session: AsyncSession, questionnaire: Questionnaire) -> int:
    """How many active people of the organisation the questionnaire is meant for."""
    query = (
        select(func.count())
        .select_from(User)
        .where(User.org_id == questionnaire.org_id, User.is_active.is_(True))
    )
    if questionnaire.audience is not None:
        query = query.where(User.role == questionnaire.audience)
    return int(await session.scalar(query) or 0)
