"""Conversations and messages of one person: every query is scoped to its owner.

Functions take the caller's session and commit what they change (the service owns the
transaction). A conversation that is not the caller's is reported exactly like one that does
not exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts.principal import Principal
from autan.chat.attachments import forget_attachments
from autan.chat.errors import (
    ConversationNotFound,
    InvalidFeedback,
    InvalidTitle,
    MessageNotFound,
)
from autan.chat.models import (
    Conversation,
    Feedback,
    Message,
    MessageRole,
    MessageStatus,
    TitleSource,
)
from autan.core.db import new_id, rowcount, utcnow
from autan.documents.service import remove_unreferenced
from autan.documents.storage import FileStore

PAGE_SIZE = 50
WINDOW = 40
MAX_COMMENT = 2000


@dataclass(frozen=True, slots=True)
class ConversationPage:
    """A slice of the sidebar: conversations, and the cursor of the next slice if any."""

    conversations: list[Conversation]
    next_before: datetime | None


@dataclass(frozen=True, slots=True)
class MessageWindow:
    """The latest messages of a conversation (or those before a position), oldest first."""

    messages: list[Message]
    has_earlier: bool


async def owned(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> Conversation:
    """The caller's conversation, or ConversationNotFound."""
    conversation = await session.scalar(
        select(Conversation).where(
            Conversation.id == conversation_id, Conversation.user_id == principal.user_id
        )
    )
    if conversation is None:
        raise ConversationNotFound()
    return conversation


async def claimed(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> Conversation:
    """The caller's conversation, claimed for writing until the transaction ends, or
    ConversationNotFound.

    Whatever adds or removes messages (a question, a retry, a late stopped answer) claims
    the conversation before reading what it ends with, so the two never interleave: a
    write that changes nothing takes PostgreSQL's row lock, or SQLite's write lock, and the
    reads that follow see whatever the previous claimant committed.
    """
    conversation: Conversation | None = await session.scalar(
        update(Conversation)
        .where(Conversation.id == conversation_id, Conversation.user_id == principal.user_id)
        .values(message_count=Conversation.message_count)
        .returning(Conversation),
        execution_options={"synchronize_session": False, "populate_existing": True},
    )
    if conversation is None:
        raise ConversationNotFound()
    return conversation


async def list_conversations(
    session: AsyncSession,
    principal: Principal,
    *,
    before: datetime | None = None,
    limit: int = PAGE_SIZE,
) -> ConversationPage:
    """The caller's conversations, most recently active first, `limit` at a time."""
    query = select(Conversation).where(Conversation.user_id == principal.user_id)
    if before is not None:
        query = query.where(Conversation.updated_at < before)
    rows = list(
        await session.scalars(
            query.order_by(Conversation.updated_at.desc(), Conversation.id).limit(limit + 1)
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return ConversationPage(rows, rows[-1].updated_at if more and rows else None)


async def window(
    session: AsyncSession,
    conversation: Conversation,
    *,
    before: int | None = None,
    size: int = WINDOW,
) -> MessageWindow:
    """Up to `size` messages before position `before` (default: the latest ones)."""
    query = select(Message).where(Message.conversation_id == conversation.id)
    if before is not None:
        query = query.where(Message.position < before)
    rows = list(await session.scalars(query.order_by(Message.position.desc()).limit(size + 1)))
    has_earlier = len(rows) > size
    rows = rows[:size]
    rows.reverse()
    return MessageWindow(rows, has_earlier)


async def create(
    session: AsyncSession, principal: Principal, model: str, assistant_id: uuid.UUID | None = None
) -> Conversation:
    """A new, empty conversation (not written yet: it is, with its first message)."""
    # Its id and count are set here rather than by an INSERT of their own: the conversation
    # and its first message then go to the database together, with the title.
    conversation = Conversation(
        id=new_id(),
        user_id=principal.user_id,
        org_id=principal.org_id,
        model=model,
        assistant_id=assistant_id,
        title="",
        title_source=TitleSource.PENDING,
        message_count=0,
        web_search=False,
    )
    session.add(conversation)
    return conversation


async def rename(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID, title: str
) -> Conversation:
    """Give a conversation the title its owner chose; the model will not change it again."""
    title = " ".join(title.split())
    if not 1 <= len(title) <= 200:
        raise InvalidTitle()
    conversation = await owned(session, principal, conversation_id)
    conversation.title = title
    conversation.title_source = TitleSource.USER
    await session.commit()
    return conversation


async def remove(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID,
    store: FileStore | None = None,
) -> None:
    """Delete a conversation with its messages, their feedback and its attached files."""
    conversation = await owned(session, principal, conversation_id)
    digests = await forget_attachments(session, conversation.id)
    # Explicit deletes: SQLite enforces ON DELETE CASCADE only with its pragma, and the
    # messages of a long conversation should not be loaded one by one.
    message_ids = select(Message.id).where(Message.conversation_id == conversation.id)
    await session.execute(delete(Feedback).where(Feedback.message_id.in_(message_ids)))
    await session.execute(delete(Message).where(Message.conversation_id == conversation.id))
    await session.delete(conversation)
    await session.commit()
    if store is not None and digests:
        await remove_unreferenced(session, store, digests)


async def truncate(session: AsyncSession, conversation: Conversation, position: int) -> None:
    """Forget every message from `position` on (editing a question, answering again)."""
    doomed = select(Message.id).where(
        Message.conversation_id == conversation.id, Message.position >= position
    )
    await session.execute(delete(Feedback).where(Feedback.message_id.in_(doomed)))
    await session.execute(
        delete(Message).where(
            Message.conversation_id == conversation.id, Message.position >= position
        )
    )
    conversation.message_count = min(conversation.message_count, position)


async def append(
    session: AsyncSession,
    conversation: Conversation,
    role: MessageRole,
    content: str,
    *,
    model: str | None = None,
    status: MessageStatus = MessageStatus.COMPLETE,
    error: str | None = None,
    sources: list[dict[str, object]] | None = None,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    impacts: dict[str, Any] | None = None,
) -> Message:
    """Add a message at the end of a conversation and mark the conversation active."""
    message = Message(
        conversation_id=conversation.id,
        position=conversation.message_count,
        role=role,
        content=content,
        model=model,
        status=status,
        error=error,
        sources=sources,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        impacts=impacts,
    )
    session.add(message)
    conversation.message_count += 1
    conversation.updated_at = utcnow()
    await session.flush()
    return message


async def last_user_position(
    session: AsyncSession, conversation: Conversation, before: int | None = None
) -> int | None:
    """The position of the conversation's last question (before `before`), if any."""
    query = select(func.max(Message.position)).where(
        Message.conversation_id == conversation.id, Message.role == MessageRole.USER
    )
    if before is not None:
        query = query.where(Message.position < before)
    position: int | None = await session.scalar(query)
    return position


async def message_at(
    session: AsyncSession, conversation: Conversation, position: int
) -> Message | None:
    """The conversation's message at a position, if there is one."""
    message: Message | None = await session.scalar(
        select(Message).where(
            Message.conversation_id == conversation.id, Message.position == position
        )
    )
    return message


async def history(
    session: AsyncSession, conversation: Conversation, limit: int = 200
) -> list[Message]:
    """The latest `limit` messages, oldest first: the material of the next prompt."""
    return (await window(session, conversation, size=limit)).messages


async def owned_message(
    session: AsyncSession, principal: Principal, message_id: uuid.UUID
) -> tuple[Message, Conversation]:
    """One of the caller's messages with its conversation, or MessageNotFound."""
    row = (
        await session.execute(
            select(Message, Conversation)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Message.id == message_id, Conversation.user_id == principal.user_id)
        )
    ).first()
    if row is None:
        raise MessageNotFound()
    return row[0], row[1]


async def give_feedback(
    session: AsyncSession,
    principal: Principal,
    message_id: uuid.UUID,
    rating: int,
    comment: str,
    share_case: bool = False,
) -> Feedback:
    """Record (or change) the caller's thumb up/down and comment on one of their answers.

    `share_case` is the caller's consent that referents export the exchange as an
    evaluation case; it only holds with a thumb down and is withdrawn by any later change
    that does not tick it again.
    """
    comment = comment.strip()
    if rating not in (1, -1) or len(comment) > MAX_COMMENT:
        raise InvalidFeedback()
    message, _conversation = await owned_message(session, principal, message_id)
    if message.role != MessageRole.ASSISTANT:
        raise MessageNotFound()
    feedback = await session.scalar(select(Feedback).where(Feedback.message_id == message.id))
    if feedback is None:
        feedback = Feedback(
            message_id=message.id,
            user_id=principal.user_id,
            org_id=principal.org_id,
            model=message.model or "",
            rating=rating,
            comment=comment,
            share_case=share_case and rating == -1,
        )
        session.add(feedback)
    else:
        feedback.rating, feedback.comment = rating, comment
        feedback.share_case = share_case and rating == -1
    await session.commit()
    return feedback


async def feedback_of(session: AsyncSession, messages: list[Message]) -> dict[uuid.UUID, Feedback]:
    """The feedback given on these messages, by message id."""
    if not messages:
        return {}
    rows = await session.scalars(
        select(Feedback).where(Feedback.message_id.in_([m.id for m in messages]))
    )
    return {row.message_id: row for row in rows}


async def set_title(
    session: AsyncSession, conversation_id: uuid.UUID, title: str, source: TitleSource
) -> bool:
    """Store a generated title unless the owner named the conversation meanwhile."""
    result = await session.execute(
        update(Conversation)
        .where(
            Conversation.id == conversation_id,
            Conversation.title_source == TitleSource.PENDING,
        )
        .values(title=title, title_source=source)
    )
    await session.commit()
    return bool(rowcount(result))
