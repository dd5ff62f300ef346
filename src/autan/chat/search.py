"""Search in one's own conversations: titles and message contents, without case or accents.

"aout" finds "Août", "ETE" finds "été", on SQLite and PostgreSQL alike (`core.folding`).
Each result carries the passage that matched, so the reader sees why it was found.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts.principal import Principal
from autan.chat.models import Conversation, Message
from autan.core.folding import fold, folded

MAX_QUERY = 200
BEFORE, AFTER = 50, 110


@dataclass(frozen=True, slots=True)
class Excerpt:
    """A passage of a message around the words found: before, the match, after."""

    before: str
    match: str
    after: str


@dataclass(frozen=True, slots=True)
class Found:
    """One conversation found, and the passage of a message that matched (if the title
    alone did not)."""

    conversation: Conversation
    excerpt: Excerpt | None


# Messages written before the column existed were folded by the migration; the fallback
# only serves rows some other tool wrote without it.
_folded_message = func.coalesce(Message.folded_content, folded(Message.content))


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def excerpt_of(content: str, wanted: str) -> Excerpt | None:
    """The words around the first place `wanted` (folded) occurs in `content`."""
    text = " ".join(content.split())
    at = fold(text).find(wanted)
    if at < 0:
        return None
    start, end = max(0, at - BEFORE), min(len(text), at + len(wanted) + AFTER)
    # Cut on word boundaries, and say that the message goes on.
    if start > 0:
        space = text.find(" ", start, at)
        start = space + 1 if space >= 0 else start
    if end < len(text):
        space = text.rfind(" ", at + len(wanted), end)
        end = space if space > 0 else end
    before = ("…" if start > 0 else "") + text[start:at]
    after = text[at + len(wanted) : end] + ("…" if end < len(text) else "")
    return Excerpt(before, text[at : at + len(wanted)], after)


async def search_conversations(
    session: AsyncSession, principal: Principal, text: str, *, limit: int = 30
) -> list[Found]:
    """The caller's conversations whose title or any message contains `text`, most recent
    first, each with the latest message passage that matched."""
    wanted = fold(" ".join(text.split())[:MAX_QUERY])
    if not wanted:
        return []
    pattern = _like_pattern(wanted)
    mine = Conversation.user_id == principal.user_id
    matching = (
        select(Message.conversation_id, Message.content)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(mine, _folded_message.like(pattern, escape="\\"))
        .order_by(Message.position.desc())
    )
    in_messages = matching.with_only_columns(Message.conversation_id)
    conversations = list(
        await session.scalars(
            select(Conversation)
            .where(
                mine,
                folded(Conversation.title).like(pattern, escape="\\")
                | Conversation.id.in_(in_messages),
            )
            .order_by(Conversation.updated_at.desc(), Conversation.id)
            .limit(limit)
        )
    )
    if not conversations:
        return []
    excerpts: dict[uuid.UUID, Excerpt] = {}
    ids = [c.id for c in conversations]
    for conversation_id, content in await session.execute(
        matching.where(Message.conversation_id.in_(ids))
    ):
        if conversation_id not in excerpts and (found := excerpt_of(content, wanted)):
            excerpts[conversation_id] = found
    return [Found(c, excerpts.get(c.id)) for c in conversations]
