"""The evaluation part of `autan demo seed`: arena votes and a monthly questionnaire's answers.

Deterministic for a given seed, row ids apart (a second seeding must not collide with the
first). Demo votes carry no conversation (nothing was asked); the questionnaire is
anonymous, so its answers name nobody, as live ones would.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from autan.arena.leaderboard import elo_probability
from autan.arena.models import Comparison, Verdict
from autan.questionnaires.models import (
    Participation,
    Period,
    Questionnaire,
    QuestionnaireAnswer,
)

_USE_CASES = ("writing", "analysis", "citizens", "meetings", "Notes juridiques", "")
_SUGGESTIONS = (
    "Pouvoir joindre plusieurs documents à la fois",
    "Des réponses plus courtes par défaut",
    "Un modèle plus rapide le matin",
    "Mieux citer les textes réglementaires",
    "Rien à signaler, merci",
    "Plus d'exemples de consignes dans la bibliothèque",
)
QUESTIONS = [
    {"kind": "likert", "text": "L'assistant me fait gagner du temps.", "options": []},
    {"kind": "likert", "text": "Je fais confiance à ses réponses.", "options": []},
    {
        "kind": "multiple",
        "text": "Pour quoi l'utilisez-vous ?",
        "options": ["Courriers", "Synthèses", "Recherche", "Traductions", "Autre"],
    },
    {"kind": "text", "text": "Une suggestion ?", "options": []},
]


async def seed_votes(
    session: AsyncSession,
    org_id: uuid.UUID,
    people: list[uuid.UUID],
    models: tuple[str, ...],
    count: int,
    rng: random.Random,
    now: datetime,
    days: int,
) -> int:
    """`count` votes between the models, the later models a little stronger."""
    if len(models) < 2 or count <= 0:
        return 0
    strength = {m: 950.0 + 60.0 * i for i, m in enumerate(models)}
    rows = []
    for _ in range(count):
        a, b = rng.sample(models, 2)
        roll = rng.random()
        if roll < 0.12:
            verdict = Verdict.TIE
        elif roll < 0.18:
            verdict = Verdict.BOTH_BAD
        else:
            won = rng.random() < elo_probability(strength[a], strength[b])
            verdict = Verdict.A if won else Verdict.B
        rows.append(
            {
                "id": uuid.uuid4(),
                "org_id": org_id,
                "user_id": rng.choice(people),
                "conversation_id": None,
                "model_a": a,
                "model_b": b,
                "use_case": rng.choice(_USE_CASES),
                "verdict": str(verdict),
                "created_at": now - timedelta(minutes=rng.randrange(days * 24 * 60)),
            }
        )
    await session.execute(insert(Comparison), rows)
    return len(rows)


def _answers(rng: random.Random) -> list[object]:
    uses = sorted(rng.sample(range(5), rng.randint(1, 3)))
    text = rng.choice(_SUGGESTIONS) if rng.random() < 0.4 else None
    return [rng.choice((3, 4, 4, 5, 5)), rng.choice((2, 3, 3, 4, 4, 5)), uses, text]


async def seed_questionnaire(
    session: AsyncSession,
    org_id: uuid.UUID,
    people: list[uuid.UUID],
    rng: random.Random,
    now: datetime,
    months: int = 3,
) -> int:
    """A monthly anonymous questionnaire, answered by about half the people each month."""
    questionnaire = Questionnaire(
        id=uuid.uuid4(),
        org_id=org_id,
        title="Votre avis sur l'assistant (démonstration)",
        questions=QUESTIONS,
        period=Period.MONTHLY,
        anonymous=True,
        created_at=now - timedelta(days=31 * months),
    )
    session.add(questionnaire)
    await session.flush()
    participations, answers = [], []
    month = now.astimezone(UTC).replace(day=1)
    for back in range(months):
        key = month.strftime("%Y-%m")
        share = 0.35 + 0.1 * back * rng.random()
        for person in people:
            roll = rng.random()
            if roll >= share + 0.1:
                continue
            answered = roll < share
            participations.append(
                {
                    "id": uuid.uuid4(),
                    "questionnaire_id": questionnaire.id,
                    "user_id": person,
                    "period_key": key,
                    "answered": answered,
                    "created_at": month,
                }
            )
            if answered:
                answers.append(
                    {
                        "id": uuid.uuid4(),
                        "questionnaire_id": questionnaire.id,
                        "period_key": key,
                        "user_id": None,
                        "answers": _answers(rng),
                    }
                )
        month = (month - timedelta(days=1)).replace(day=1)
    if participations:
        await session.execute(insert(Participation), participations)
    if answers:
        await session.execute(insert(QuestionnaireAnswer), answers)
    return len(answers)
