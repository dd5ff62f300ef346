"""Evaluation cases from thumbs-down answers whose authors agreed to share them.

A person who rates an answer down may tick "share this exchange as an evaluation case"
(`Feedback.share_case`, off unless ticked). The organisation's referents export those
exchanges, and only those, in the answer benchmark's case format (one JSON object a line,
or CSV): the question, the passages the answer was grounded in, the answer given and the
comment. `golds` is left empty for the referent to fill in with the expected answers;
`autan bench answers --cases FILE --model …` then measures a model on them.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from autan.chat.models import Conversation, Feedback, Message, MessageRole
from autan.documents.models import Chunk, Document

CSV_FIELDS = ("id", "question", "paragraph", "paragraph_title", "golds", "answer", "comment")


@dataclass(frozen=True, slots=True)
class EvaluationCase:
    """One shared exchange, in the fields of `benchmarks.answers.data.Case` and more."""

    id: str
    article: str
    question: str
    paragraph: str
    paragraph_title: str
    golds: tuple[str, ...]
    answerable: bool
    answer: str
    comment: str
    model: str


async def _passages(
    session: AsyncSession, org_id: uuid.UUID, sources: list[dict[str, Any]]
) -> tuple[str, str]:
    """The cited passages' full text (their excerpts if gone) and the first one's document."""
    ids = [int(s["chunk_id"]) for s in sources if isinstance(s.get("chunk_id"), int)]
    rows = await session.execute(
        select(Chunk.id, Chunk.content)
        .join(Document, Document.id == Chunk.document_id)
        # Only the organisation's own documents: a source never leaks another's text.
        .where(Chunk.id.in_(ids), Document.org_id == org_id)
    )
    content = {row.id: row.content for row in rows}
    texts = [content.get(s.get("chunk_id"), str(s.get("excerpt") or "")) for s in sources]
    title = str(sources[0].get("document_name") or "") if sources else ""
    return "\n\n".join(t for t in texts if t), title


async def shared_cases(session: AsyncSession, org_id: uuid.UUID) -> list[EvaluationCase]:
    """The organisation's consented thumbs-down exchanges, oldest first."""
    question = aliased(Message)
    rows = await session.execute(
        select(Feedback, Message, question.content.label("question"))
        .join(Message, Message.id == Feedback.message_id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .join(
            question,
            (question.conversation_id == Message.conversation_id)
            & (question.position == Message.position - 1)
            & (question.role == MessageRole.USER),
        )
        .where(
            Feedback.org_id == org_id,
            Conversation.org_id == org_id,
            Feedback.share_case.is_(True),
            Feedback.rating == -1,
        )
        .order_by(Feedback.created_at, Feedback.id)
    )
    cases = []
    for feedback, answer, text in rows:
        paragraph, title = await _passages(session, org_id, answer.sources or [])
        cases.append(
            EvaluationCase(
                id=str(feedback.id),
                article=title,
                question=text,
                paragraph=paragraph,
                paragraph_title=title,
                golds=(),
                answerable=True,
                answer=answer.content,
                comment=feedback.comment,
                model=feedback.model,
            )
        )
    return cases


def as_jsonl(cases: list[EvaluationCase]) -> str:
    """One case a line, the format `autan bench answers --cases` reads."""
    return "".join(json.dumps(asdict(c), ensure_ascii=False) + "\n" for c in cases)


def as_csv(cases: list[EvaluationCase]) -> str:
    """The cases as CSV; `golds` joined by " | " (empty until a referent fills it in)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for case in cases:
        writer.writerow(asdict(case) | {"golds": " | ".join(case.golds)})
    return out.getvalue()
