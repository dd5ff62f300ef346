""" "Delete all my data": everything a person wrote, uploaded, connected or asked for.

Conversations, feedback, templates, keys and documents; translations and deep-research
runs (the uploaded file and the report live in their rows); drive connections (their
sealed passwords: a connection left behind would bring the deleted files back at its next
sync) and Docs links and token; private collections; named questionnaire answers.

Everything goes in one transaction, so a failure leaves all of it in place. The account
itself stays (the person can keep signing in), and so do the rows that hold no content
and that the organisation must keep: the usage counters (tokens per request, for quotas
and capacity planning) and the audit log, which records this erasure with its counts.
"""

from __future__ import annotations

import uuid
from dataclasses import astuple, dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts import audit
from autan.accounts.models import ApiKey
from autan.accounts.principal import Principal
from autan.assistants.models import assistant_collections
from autan.chat.models import Conversation, Feedback, Message
from autan.connectors.models import DriveConnection, DriveFile
from autan.core.db import rowcount
from autan.core.events import ApiKeyRevoked, emit
from autan.documents.models import Collection, Document, Visibility
from autan.prompts.models import PromptTemplate
from autan.questionnaires.models import QuestionnaireAnswer
from autan.research.models import ResearchJob
from autan.retrieval.index import delete_document_chunks
from autan.suitedocs.models import DocsLink, DocsToken
from autan.translation.models import TranslationJob


@dataclass(frozen=True, slots=True)
class ErasureCounts:
    """How many rows of each kind a person has (before) or had (after erasure)."""

    conversations: int = 0
    messages: int = 0
    feedback: int = 0
    prompt_templates: int = 0
    api_keys: int = 0
    documents: int = 0
    translations: int = 0
    research_runs: int = 0
    drive_connections: int = 0
    docs_links: int = 0
    private_collections: int = 0
    questionnaire_answers: int = 0

    @property
    def total(self) -> int:
        return sum(astuple(self))


@dataclass(frozen=True, slots=True)
class Erasure:
    """What was deleted, and what the caller must still forget outside the database."""

    counts: ErasureCounts
    # Hashes of the deleted API keys, to drop from the key cache at once.
    key_hashes: list[str] = field(default_factory=list)
    # Content digests of the deleted documents, whose stored files may now be unreferenced.
    document_digests: set[str] = field(default_factory=set)


def _own_conversations(user_id: uuid.UUID) -> Select[uuid.UUID]:
    return select(Conversation.id).where(Conversation.user_id == user_id)


def _own_messages(user_id: uuid.UUID) -> Select[uuid.UUID]:
    return select(Message.id).where(Message.conversation_id.in_(_own_conversations(user_id)))


def _own_feedback(user_id: uuid.UUID) -> ColumnElement[bool]:
    return or_(Feedback.user_id == user_id, Feedback.message_id.in_(_own_messages(user_id)))


def _own_documents(user_id: uuid.UUID) -> ColumnElement[bool]:
    return or_(
        Document.owner_id == user_id,
        Document.conversation_id.in_(_own_conversations(user_id)),
        Document.collection_id.in_(_private_collections(user_id)),
    )


def _private_collections(user_id: uuid.UUID) -> Select[uuid.UUID]:
    return select(Collection.id).where(
        Collection.owner_id == user_id, Collection.visibility == Visibility.PRIVATE
    )


def _own_drives(user_id: uuid.UUID) -> Select[uuid.UUID]:
    return select(DriveConnection.id).where(DriveConnection.owner_id == user_id)


async def _count(session: AsyncSession, model: type[Any], where: ColumnElement[bool]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model).where(where)) or 0)


async def count_my_data(session: AsyncSession, user_id: uuid.UUID) -> ErasureCounts:
    """What "delete all my data" would delete, for the confirmation page."""
    return ErasureCounts(
        conversations=await _count(session, Conversation, Conversation.user_id == user_id),
        messages=await _count(
            session, Message, Message.conversation_id.in_(_own_conversations(user_id))
        ),
        feedback=await _count(session, Feedback, _own_feedback(user_id)),
        prompt_templates=await _count(session, PromptTemplate, PromptTemplate.owner_id == user_id),
        api_keys=await _count(session, ApiKey, ApiKey.user_id == user_id),
        documents=await _count(session, Document, _own_documents(user_id)),
        translations=await _count(session, TranslationJob, TranslationJob.user_id == user_id),
        research_runs=await _count(session, ResearchJob, ResearchJob.user_id == user_id),
        drive_connections=await _count(
            session, DriveConnection, DriveConnection.owner_id == user_id
        ),
        docs_links=await _count(session, DocsLink, DocsLink.user_id == user_id),
        private_collections=await _count(
            session, Collection, Collection.id.in_(_private_collections(user_id))
        ),
        questionnaire_answers=await _count(
            session, QuestionnaireAnswer, QuestionnaireAnswer.user_id == user_id
        ),
    )


async def _delete(session: AsyncSession, model: type[Any], where: ColumnElement[bool]) -> int:
    result = await session.execute(delete(model).where(where))
    return rowcount(result)


async def erase_my_data(
    session: AsyncSession, principal: Principal, ip: str | None = None
) -> Erasure:
    """Delete all of the person's content in one transaction; the account itself stays."""
    user_id = principal.user_id
    key_hashes = list(
        await session.scalars(select(ApiKey.secret_hash).where(ApiKey.user_id == user_id))
    )
    digests = set(await session.scalars(select(Document.sha256).where(_own_documents(user_id))))
    # Children before parents, explicitly: the counts are reported, and nothing depends on
    # the database's cascades being enabled. Drives first: a sync under way checks its row
    # before each file and files nothing more once it is gone.
    await session.execute(
        delete(DriveFile).where(DriveFile.connection_id.in_(_own_drives(user_id)))
    )
    drives = await _delete(session, DriveConnection, DriveConnection.owner_id == user_id)
    feedback = await _delete(session, Feedback, _own_feedback(user_id))
    # Through the index's own function: it also drops the cached vectors of the collections.
    for document_id in list(
        await session.scalars(select(Document.id).where(_own_documents(user_id)))
    ):
        await delete_document_chunks(session, document_id)
    documents = await _delete(session, Document, _own_documents(user_id))
    docs_links = await _delete(session, DocsLink, DocsLink.user_id == user_id)
    messages = await _delete(
        session, Message, Message.conversation_id.in_(_own_conversations(user_id))
    )
    conversations = await _delete(session, Conversation, Conversation.user_id == user_id)
    await session.execute(
        delete(assistant_collections).where(
            assistant_collections.c.collection_id.in_(_private_collections(user_id))
        )
    )
    collections = await _delete(
        session, Collection, Collection.id.in_(_private_collections(user_id))
    )
    templates = await _delete(session, PromptTemplate, PromptTemplate.owner_id == user_id)
    keys = await _delete(session, ApiKey, ApiKey.user_id == user_id)
    # A running translation or research run notices at its next write that its row is gone.
    translations = await _delete(session, TranslationJob, TranslationJob.user_id == user_id)
    research = await _delete(session, ResearchJob, ResearchJob.user_id == user_id)
    await _delete(session, DocsToken, DocsToken.user_id == user_id)
    answers = await _delete(session, QuestionnaireAnswer, QuestionnaireAnswer.user_id == user_id)
    counts = ErasureCounts(
        conversations,
        messages,
        feedback,
        templates,
        keys,
        documents,
        translations,
        research,
        drives,
        docs_links,
        collections,
        answers,
    )
    audit.record(
        session,
        audit.Action.DATA_ERASED,
        actor_id=user_id,
        org_id=principal.org_id,
        target=principal.email,
        ip=ip,
        conversations=conversations,
        messages=messages,
        feedback=feedback,
        prompt_templates=templates,
        api_keys=keys,
        documents=documents,
        translations=translations,
        research_runs=research,
        drive_connections=drives,
        docs_links=docs_links,
        private_collections=collections,
        questionnaire_answers=answers,
    )
    emit(session, *(ApiKeyRevoked(h) for h in key_hashes))
    await session.commit()
    return Erasure(counts, key_hashes, digests)
