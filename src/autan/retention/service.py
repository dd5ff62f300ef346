"""Retention rules and the purge that applies them.

The purge works in small batches, each in its own short transaction, so that it never holds
a table for long on a busy database; files are removed once the rows that named them are
gone (and only if no other document shares their bytes). Usage rows need no rollup first:
`usage.rollup` adds every row to the daily rollups in the transaction that inserts it, so
deleting a row leaves the cockpit's counts as they were.

The conversations' period also applies to a person's other work of the same kind:
translations (whose rows hold the uploaded file and its result) and deep-research runs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts import audit
from autan.chat.models import Conversation, Feedback, Message
from autan.core.db import utcnow
from autan.documents.models import Document
from autan.documents.service import remove_unreferenced
from autan.documents.storage import FileStore
from autan.research.models import ResearchJob
from autan.retention.models import RetentionRule
from autan.retrieval.index import delete_document_chunks
from autan.retrieval.vectors import matrix_cache
from autan.translation.models import TranslationJob
from autan.usage.models import UsageRecord

BATCH = 500
# The longest period a rule may set (ten years); beyond that, keep without limit.
MAX_DAYS = 3650


@dataclass
class Purged:
    """How many rows of each kind one purge deleted, per organisation (counts only)."""

    conversations: int = 0
    documents: int = 0
    usage_rows: int = 0
    translations: int = 0
    research_runs: int = 0
    by_org: dict[uuid.UUID, dict[str, int]] = field(default_factory=dict)


async def rule_of(session: AsyncSession, org_id: uuid.UUID) -> RetentionRule | None:
    """The organisation's rule, if it set one."""
    return await session.get(RetentionRule, org_id)


async def set_rule(
    session: AsyncSession,
    org_id: uuid.UUID,
    actor_id: uuid.UUID | None,
    *,
    conversation_days: int | None,
    document_days: int | None,
    usage_days: int | None,
) -> RetentionRule:
    """Set (or clear, with None) the organisation's periods, audited; commits."""
    rule = await rule_of(session, org_id)
    if rule is None:
        rule = RetentionRule(org_id=org_id)
        session.add(rule)
    rule.conversation_days = conversation_days
    rule.document_days = document_days
    rule.usage_days = usage_days
    audit.record(
        session,
        audit.Action.RETENTION_UPDATED,
        actor_id=actor_id,
        org_id=org_id,
        conversation_days=conversation_days,
        document_days=document_days,
        usage_days=usage_days,
    )
    await session.commit()
    return rule


async def _purge_conversations(
    factory: async_sessionmaker[AsyncSession],
    store: FileStore | None,
    org_id: uuid.UUID,
    cutoff: datetime,
) -> int:
    count = 0
    while True:
        async with factory() as session:
            ids = list(
                await session.scalars(
                    select(Conversation.id)
                    .where(Conversation.org_id == org_id, Conversation.updated_at < cutoff)
                    .limit(BATCH)
                )
            )
            if not ids:
                return count
            # Their attachments, in one query for the batch (most conversations have none).
            attached = list(
                await session.execute(
                    select(Document.id, Document.sha256).where(Document.conversation_id.in_(ids))
                )
            )
            for document in attached:
                await delete_document_chunks(session, document.id)
            await session.execute(delete(Document).where(Document.conversation_id.in_(ids)))
            digests = {d.sha256 for d in attached}
            # Explicit deletes: SQLite enforces ON DELETE CASCADE only with its pragma.
            messages = select(Message.id).where(Message.conversation_id.in_(ids))
            await session.execute(delete(Feedback).where(Feedback.message_id.in_(messages)))
            await session.execute(delete(Message).where(Message.conversation_id.in_(ids)))
            await session.execute(delete(Conversation).where(Conversation.id.in_(ids)))
            await session.commit()
            if store is not None:
                await remove_unreferenced(session, store, digests)
            count += len(ids)


async def _purge_documents(
    factory: async_sessionmaker[AsyncSession],
    store: FileStore | None,
    org_id: uuid.UUID,
    cutoff: datetime,
) -> int:
    count = 0
    while True:
        async with factory() as session:
            documents = list(
                await session.execute(
                    select(Document.id, Document.sha256, Document.collection_id)
                    .where(Document.org_id == org_id, Document.created_at < cutoff)
                    .limit(BATCH)
                )
            )
            if not documents:
                return count
            ids = [d.id for d in documents]
            for document_id in ids:
                await delete_document_chunks(session, document_id)
            await session.execute(delete(Document).where(Document.id.in_(ids)))
            await session.commit()
            for collection_id in {d.collection_id for d in documents}:
                matrix_cache.invalidate(collection_id)
            if store is not None:
                await remove_unreferenced(session, store, {d.sha256 for d in documents})
            count += len(ids)


async def _purge_rows(
    factory: async_sessionmaker[AsyncSession],
    model: Any,
    where: ColumnElement[bool],
    batch: int = BATCH,
) -> int:
    """Delete the rows of a table with nothing attached outside it, a batch at a time."""
    count = 0
    while True:
        async with factory() as session, session.begin():
            ids = list(await session.scalars(select(model.id).where(where).limit(batch)))
            if not ids:
                return count
            await session.execute(delete(model).where(model.id.in_(ids)))
        count += len(ids)


async def _purge_usage(
    factory: async_sessionmaker[AsyncSession], org_id: uuid.UUID, cutoff: datetime
) -> int:
    where = (UsageRecord.org_id == org_id) & (UsageRecord.created_at < cutoff)
    return await _purge_rows(factory, UsageRecord, where, BATCH * 10)


async def purge(
    factory: async_sessionmaker[AsyncSession],
    store: FileStore | None,
    now: datetime | None = None,
) -> Purged:
    """Apply every organisation's rule once; audits what it deleted (counts only)."""
    now = now or utcnow()
    async with factory() as session:
        rules = list(await session.scalars(select(RetentionRule)))
    purged = Purged()
    for rule in rules:
        done = dict.fromkeys(
            ("conversations", "documents", "usage_rows", "translations", "research_runs"), 0
        )
        if rule.conversation_days is not None:
            cutoff = now - timedelta(days=rule.conversation_days)
            done["conversations"] = await _purge_conversations(factory, store, rule.org_id, cutoff)
            # A running translation's heartbeat keeps its `updated_at` recent.
            done["translations"] = await _purge_rows(
                factory,
                TranslationJob,
                (TranslationJob.org_id == rule.org_id) & (TranslationJob.updated_at < cutoff),
            )
            done["research_runs"] = await _purge_rows(
                factory,
                ResearchJob,
                (ResearchJob.org_id == rule.org_id) & (ResearchJob.updated_at < cutoff),
            )
        if rule.document_days is not None:
            cutoff = now - timedelta(days=rule.document_days)
            done["documents"] = await _purge_documents(factory, store, rule.org_id, cutoff)
        if rule.usage_days is not None:
            cutoff = now - timedelta(days=rule.usage_days)
            done["usage_rows"] = await _purge_usage(factory, rule.org_id, cutoff)
        if any(done.values()):
            async with factory() as session:
                audit.record(
                    session,
                    audit.Action.RETENTION_PURGED,
                    actor_id=None,
                    org_id=rule.org_id,
                    conversations=done["conversations"],
                    documents=done["documents"],
                    usage_rows=done["usage_rows"],
                    translations=done["translations"],
                    research_runs=done["research_runs"],
                )
                await session.commit()
        purged.conversations += done["conversations"]
        purged.documents += done["documents"]
        purged.usage_rows += done["usage_rows"]
        purged.translations += done["translations"]
        purged.research_runs += done["research_runs"]
        purged.by_org[rule.org_id] = done
    return purged
