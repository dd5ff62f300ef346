"""A person's own copy of their conversations: one JSON document, or a zip of Markdown files.

Both hold every conversation with its messages in order, the sources an answer cited, and
the feedback the person gave. They are built from the person's rows only (`user_id`), a
conversation at a time, so an export never reads anyone else's data.
"""

from __future__ import annotations

import io
import re
import unicodedata
import uuid
import zipfile
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts.models import User
from autan.chat.models import Conversation, Feedback, Message, MessageRole
from autan.core.db import utcnow
from autan.prompts.models import PromptTemplate
from autan.research.models import ResearchJob
from autan.translation.models import TranslationJob

EXPORT_FORMAT = "autan-export/1"
_NAME_MAX = 60

# The Markdown files are read by people: in the language they read the pages in.
_LABELS: dict[str, dict[str, str]] = {
    "fr": {
        "model": "Modèle",
        "started": "Commencée le",
        "you": "Vous",
        "assistant": "Assistant",
        "feedback": "Votre avis",
        "page": "p.",
        "untitled": "Conversation",
    },
    "en": {
        "model": "Model",
        "started": "Started",
        "you": "You",
        "assistant": "Assistant",
        "feedback": "Your feedback",
        "page": "p.",
        "untitled": "Conversation",
    },
}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def _conversations(
    session: AsyncSession, user_id: uuid.UUID
) -> AsyncIterator[tuple[Conversation, list[tuple[Message, Feedback | None]]]]:
    """Each conversation of the person, oldest first, with its messages and their feedback.

    Two queries in all (conversations, then every message with its feedback in order), not
    one per conversation: a long history exports in one pass.
    """
    conversations = (
        await session.scalars(
            select(Conversation)
            .where(Conversation.user_id == user_id)
            .order_by(Conversation.created_at, Conversation.id)
        )
    ).all()
    messages: dict[uuid.UUID, list[tuple[Message, Feedback | None]]] = {
        c.id: [] for c in conversations
    }
    rows = await session.stream(
        select(Message, Feedback)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .outerjoin(Feedback, (Feedback.message_id == Message.id) & (Feedback.user_id == user_id))
        .where(Conversation.user_id == user_id)
        .order_by(Message.conversation_id, Message.position)
    )
    async for message, feedback in rows:
        messages.setdefault(message.conversation_id, []).append((message, feedback))
    for conversation in conversations:
        yield conversation, messages.pop(conversation.id, [])


def _message_json(message: Message, feedback: Feedback | None) -> dict[str, Any]:
    return {
        "position": message.position,
        "role": message.role,
        "content": message.content,
        "model": message.model,
        "status": message.status,
        "created_at": _iso(message.created_at),
        "sources": message.sources or [],
        "feedback": None
        if feedback is None
        else {
            "rating": feedback.rating,
            "comment": feedback.comment,
            "created_at": _iso(feedback.created_at),
        },
    }


async def export_json(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any]:
    """Everything the person wrote and received, as one JSON-ready document."""
    user = await session.get(User, user_id)
    conversations = [
        {
            "id": str(conversation.id),
            "title": conversation.title,
            "model": conversation.model,
            "created_at": _iso(conversation.created_at),
            "updated_at": _iso(conversation.updated_at),
            "messages": [_message_json(message, feedback) for message, feedback in messages],
        }
        async for conversation, messages in _conversations(session, user_id)
    ]
    templates = await session.scalars(
        select(PromptTemplate)
        .where(PromptTemplate.owner_id == user_id)
        .order_by(PromptTemplate.created_at)
    )
    research = await session.scalars(
        select(ResearchJob).where(ResearchJob.user_id == user_id).order_by(ResearchJob.created_at)
    )
    # The files themselves are downloaded from the translation's page; their rows are listed.
    translations = await session.execute(
        select(
            TranslationJob.file_name,
            TranslationJob.target_lang,
            TranslationJob.status,
            TranslationJob.created_at,
        )
        .where(TranslationJob.user_id == user_id)
        .order_by(TranslationJob.created_at)
    )
    return {
        "format": EXPORT_FORMAT,
        "exported_at": _iso(utcnow()),
        "user": None if user is None else {"email": user.email, "display_name": user.display_name},
        "conversations": conversations,
        "research_runs": [
            {
                "id": str(r.id),
                "question": r.question,
                "status": r.status,
                "report": r.report,
                "sources": r.sources,
                "created_at": _iso(r.created_at),
            }
            for r in research
        ],
        "translations": [
            {
                "file_name": t.file_name,
                "target_language": t.target_lang,
                "status": t.status,
                "created_at": _iso(t.created_at),
            }
            for t in translations
        ],
        "prompt_templates": [
            {
                "id": str(t.id),
                "title": t.title,
                "category": t.category,
                "visibility": t.visibility,
                "body": t.body,
                "created_at": _iso(t.created_at),
            }
            for t in templates
        ],
    }


def safe_file_name(title: str, when: datetime, taken: set[str]) -> str:
    """A portable, unique file name for a conversation: date, then its title in ASCII."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:_NAME_MAX].strip("-")
    stem = f"{when.strftime('%Y-%m-%d')}-{slug or 'conversation'}"
    name, number = f"{stem}.md", 2
    while name in taken:
        name, number = f"{stem}-{number}.md", number + 1
    taken.add(name)
    return name


def _source_line(index: int, source: dict[str, Any], page_label: str = "p.") -> str:
    """`[n] document, pages: "excerpt"`, from the citation shape of `retrieval.grounding`."""
    number = source.get("number") or index
    name = source.get("document_name") or source.get("title") or source.get("url") or ""
    pages = source.get("pages") or source.get("page")
    where = f", {page_label} {pages}" if pages else ""
    excerpt = str(source.get("excerpt") or "").replace("\n", " ")
    quoted = f' — "{excerpt}"' if excerpt else ""
    return f"[{number}] {name}{where}{quoted}"


def _markdown(
    conversation: Conversation,
    messages: list[tuple[Message, Feedback | None]],
    lang: str = "fr",
) -> str:
    words = _LABELS.get(lang, _LABELS["fr"])
    colon = " :" if lang != "en" else ":"
    lines = [
        f"# {conversation.title or words['untitled']}",
        "",
        f"- {words['model']}{colon} {conversation.model}",
        f"- {words['started']}{colon} {_iso(conversation.created_at)}",
        "",
    ]
    for message, feedback in messages:
        who = words["you"] if message.role == MessageRole.USER else words["assistant"]
        lines += [f"## {who} ({_iso(message.created_at)})", "", message.content, ""]
        for index, source in enumerate(message.sources or [], start=1):
            lines.append(_source_line(index, source, words["page"]))
        if message.sources:
            lines.append("")
        if feedback is not None:
            rating = "👍" if feedback.rating > 0 else "👎"
            comment = f"{colon} {feedback.comment}" if feedback.comment else ""
            lines += [f"> {words['feedback']}{colon} {rating}{comment}", ""]
    return "\n".join(lines)


async def export_markdown_zip(session: AsyncSession, user_id: uuid.UUID, lang: str = "fr") -> bytes:
    """A zip with one Markdown file per conversation, its labels in the reader's language."""
    buffer = io.BytesIO()
    taken: set[str] = set()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        async for conversation, messages in _conversations(session, user_id):
            name = safe_file_name(conversation.title, conversation.created_at, taken)
            archive.writestr(name, _markdown(conversation, messages, lang))
    return buffer.getvalue()
