"""A conversation or one answer as a Markdown document with its sources as links.

This is the text every export starts from (the Markdown file itself, DOCX, ODT, and the
document sent to Docs): the answer's own Markdown (headings, lists, tables) kept as the
model wrote it, its `[n]` citations pointing to a numbered "Sources" list at the end of the
answer, each source a link when it has an address.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from autan.chat.models import Conversation, Message, MessageRole

_WORDS: dict[str, dict[str, str]] = {
    "fr": {
        "you": "Vous",
        "assistant": "Assistant",
        "sources": "Sources",
        "model": "Modèle",
        "date": "Date",
        "page": "p.",
        "untitled": "Conversation",
        "answer": "Réponse",
    },
    "en": {
        "you": "You",
        "assistant": "Assistant",
        "sources": "Sources",
        "model": "Model",
        "date": "Date",
        "page": "p.",
        "untitled": "Conversation",
        "answer": "Answer",
    },
}


def words(lang: str) -> dict[str, str]:
    """The fixed words of an export in the reader's language (French unless English)."""
    return _WORDS["en" if lang == "en" else "fr"]


def _escape(text: str) -> str:
    return text.replace("[", "\\[").replace("]", "\\]")


def source_item(index: int, source: dict[str, Any], lang: str = "fr") -> str:
    """One numbered source: a link when it has an address, the page and a short quote."""
    number = source.get("number") or index
    name = str(source.get("document_name") or source.get("title") or source.get("url") or "")
    url = source.get("url")
    label = (
        f"[{_escape(name)}]({url})"
        if isinstance(url, str) and url.startswith("http")
        else (_escape(name))
    )
    pages = source.get("pages") or source.get("page")
    where = f", {words(lang)['page']} {pages}" if pages else ""
    excerpt = " ".join(str(source.get("excerpt") or "").split())[:300]
    quoted = f" — « {_escape(excerpt)} »" if excerpt else ""
    return f"{number}. {label}{where}{quoted}"


def _sources(message: Message, lang: str, level: int) -> list[str]:
    if not message.sources:
        return []
    lines = ["", f"{'#' * level} {words(lang)['sources']}", ""]
    lines += [source_item(i, s, lang) for i, s in enumerate(message.sources, start=1)]
    return lines


def _stamp(value: datetime) -> str:
    return value.strftime("%d/%m/%Y %H:%M")


def answer_markdown(conversation: Conversation, message: Message, lang: str = "fr") -> str:
    """One answer as a document: the conversation's title, the answer, its sources."""
    title = conversation.title or words(lang)["untitled"]
    lines = [f"# {title}", "", message.content.strip()]
    lines += _sources(message, lang, 2)
    return "\n".join(lines) + "\n"


def conversation_markdown(
    conversation: Conversation, messages: list[Message], lang: str = "fr"
) -> str:
    """The whole conversation: a section per message, each answer followed by its sources."""
    w = words(lang)
    colon = ":" if lang == "en" else " :"
    lines = [
        f"# {conversation.title or w['untitled']}",
        "",
        f"- {w['model']}{colon} {conversation.model}",
        f"- {w['date']}{colon} {_stamp(conversation.created_at)}",
    ]
    for message in messages:
        if message.role not in (MessageRole.USER, MessageRole.ASSISTANT):
            continue
        who = w["you"] if message.role == MessageRole.USER else w["assistant"]
        # The model's own headings are pushed below the message's heading.
        body = "\n".join(
            f"##{line}" if line.startswith("#") else line
            for line in message.content.strip().splitlines()
        )
        lines += ["", f"## {who} — {_stamp(message.created_at)}", "", body]
        lines += _sources(message, lang, 3)
    return "\n".join(lines) + "\n"
