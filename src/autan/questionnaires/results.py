"""What a referent sees of a questionnaire: response rate and per-question figures.

Never who answered what. Free-text answers are shown without names, in alphabetical order
(not the order they came in), and only once a period has at least `MIN_TEXTS` answers, so
that one person's words cannot be told apart by timing or by a small count, even when the
questionnaire is not anonymous.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from autan.insights.charts import Chart, bars
from autan.questionnaires.models import (
    Participation,
    QuestionKind,
    Questionnaire,
    QuestionnaireAnswer,
)
from autan.questionnaires.service import LIKERT, audience_size, period_key

MIN_TEXTS = 3


@dataclass(frozen=True, slots=True)
class PeriodRate:
    """Answers, dismissals and audience of one period."""

    key: str
    answered: int
    dismissed: int
    audience: int

    @property
    def rate(self) -> float:
        return self.answered / self.audience if self.audience else 0.0


@dataclass(slots=True)
class QuestionResult:
    """Counts per choice (Likert: per value 1-5) or the free texts of one question."""

    number: int
    kind: str
    text: str
    labels: list[str]
    counts: list[int]
    answered: int = 0
    mean: float | None = None
    texts: list[str] = field(default_factory=list)
    texts_hidden: bool = False
    chart: Chart | None = None

    @property
    def rows(self) -> list[tuple[str, int]]:
        """(choice, count) pairs for the table beside the chart."""
        return list(zip(self.labels, self.counts, strict=True))


@dataclass(frozen=True, slots=True)
class Results:
    questionnaire: Questionnaire
    period: str
    periods: list[PeriodRate]
    questions: list[QuestionResult]
    rate_chart: Chart

    @property
    def current(self) -> PeriodRate:
        for rate in self.periods:
            if rate.key == self.period:
                return rate
        return PeriodRate(self.period, 0, 0, 0)


async def _rates(session: AsyncSession, questionnaire: Questionnaire) -> list[PeriodRate]:
    rows = (
        await session.execute(
            select(Participation.period_key, Participation.answered, func.count())
            .where(Participation.questionnaire_id == questionnaire.id)
            .group_by(Participation.period_key, Participation.answered)
        )
    ).all()
    counts: dict[str, list[int]] = {}
    for key, answered, count in rows:
        counts.setdefault(key, [0, 0])[0 if answered else 1] += int(count)
    counts.setdefault(period_key(questionnaire), [0, 0])
    # The audience is today's: past months are measured against it too (an approximation).
    size = await audience_size(session, questionnaire)
    return [PeriodRate(k, a, d, size) for k, (a, d) in sorted(counts.items())]


def _tally(questions: list[dict[str, Any]], answers: list[list[Any]]) -> list[QuestionResult]:
    results = []
    for index, question in enumerate(questions):
        kind = question["kind"]
        values = [row[index] for row in answers if index < len(row) and row[index] is not None]
        if kind == QuestionKind.LIKERT:
            labels = [str(v) for v in LIKERT]
            counts = [sum(1 for v in values if v == level) for level in LIKERT]
        elif kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE):
            labels = list(question["options"])
            flat = [v for value in values for v in (value if isinstance(value, list) else [value])]
            counts = [flat.count(i) for i in range(len(labels))]
        else:
            labels, counts = [], []
        result = QuestionResult(index + 1, kind, question["text"], labels, counts, len(values))
        if kind == QuestionKind.LIKERT and values:
            result.mean = sum(values) / len(values)
        if kind == QuestionKind.TEXT:
            texts = sorted(str(v) for v in values if str(v).strip())
            result.texts_hidden = 0 < len(answers) < MIN_TEXTS
            result.texts = [] if result.texts_hidden else texts
        else:
            result.chart = bars(
                [(label, [count]) for label, count in zip(labels, counts, strict=True)]
            )
        results.append(result)
    return results


async def results(
    session: AsyncSession, questionnaire: Questionnaire, period: str | None = None
) -> Results:
    """The figures of one period (default: the current one)."""
    periods = await _rates(session, questionnaire)
    chosen = period if period in {p.key for p in periods} else period_key(questionnaire)
    answers = list(
        await session.scalars(
            select(QuestionnaireAnswer.answers).where(
                QuestionnaireAnswer.questionnaire_id == questionnaire.id,
                QuestionnaireAnswer.period_key == chosen,
            )
        )
    )
    rate_chart = bars([(p.key, [p.rate]) for p in periods], percent=True)
    return Results(
        questionnaire, chosen, periods, _tally(questionnaire.questions, answers), rate_chart
    )


def to_csv(view: Results) -> str:
    """Counts per question and choice, then the response rate per period (never a person)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["period", "question", "choice", "count"])
    for question in view.questions:
        for label, count in zip(question.labels, question.counts, strict=True):
            writer.writerow([view.period, question.text, label, count])
    writer.writerow([])
    writer.writerow(["period", "answered", "dismissed", "audience", "response_rate"])
    for rate in view.periods:
        writer.writerow(
            [rate.key, rate.answered, rate.dismissed, rate.audience, f"{rate.rate:.3f}"]
        )
    return out.getvalue()
