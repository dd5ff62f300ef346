"""Helpers for the prompt library, charter, settings and dashboard tests: rows and a database."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts import repository
from autan.accounts.models import Role, User
from autan.accounts.principal import Principal
from autan.chat.models import Conversation, Feedback, Message, MessageRole
from autan.core.db import create_engine, session_factory, utcnow
from autan.translation.models import TranslationJob
from tests.support.web import Site


def principal_of(user: User) -> Principal:
    return Principal(user.id, user.org_id, user.email, Role(user.role))


@contextlib.asynccontextmanager
async def database(site: Site) -> AsyncIterator[AsyncSession]:
    """A session on the running site's database."""
    engine = create_engine(site.autan.settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            yield session
    finally:
        await engine.dispose()


async def user_by_email(session: AsyncSession, email: str) -> User:
    user = await repository.user_by_email(session, email)
    assert user is not None
    return user


def queued_translation(user: User, file_name: str, source: bytes, **columns: Any) -> TranslationJob:
    """A Markdown file of this person's, queued for translation into English."""
    return TranslationJob(
        user_id=user.id,
        org_id=user.org_id,
        file_name=file_name,
        fmt="md",
        target_lang="en",
        model="petit",
        source=source,
        **columns,
    )


async def add_conversation(
    session: AsyncSession,
    user: User,
    title: str,
    turns: list[tuple[str, str]],
    *,
    model: str = "petit",
    rating: int | None = None,
    comment: str = "",
    sources: list[dict[str, Any]] | None = None,
    at: datetime | None = None,
) -> Conversation:
    """A conversation of (question, answer) turns; the last answer may carry feedback."""
    when = at or utcnow()
    conversation = Conversation(
        user_id=user.id,
        org_id=user.org_id,
        title=title,
        model=model,
        message_count=2 * len(turns),
        created_at=when,
        updated_at=when,
    )
    session.add(conversation)
    await session.flush()
    answer: Message | None = None
    for index, (question, reply) in enumerate(turns):
        session.add(
            Message(
                conversation_id=conversation.id,
                position=2 * index,
                role=MessageRole.USER,
                content=question,
                created_at=when,
            )
        )
        answer = Message(
            conversation_id=conversation.id,
            position=2 * index + 1,
            role=MessageRole.ASSISTANT,
            content=reply,
            model=model,
            sources=sources,
            created_at=when,
        )
        session.add(answer)
    await session.flush()
    if rating is not None and answer is not None:
        session.add(
            Feedback(
                message_id=answer.id,
                user_id=user.id,
                org_id=user.org_id,
                model=model,
                rating=rating,
                comment=comment,
                created_at=when,
            )
        )
    await session.commit()
    return conversation


def new_uuid() -> str:
    return str(uuid.uuid4())
