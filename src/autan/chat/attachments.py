"""Files attached to a conversation: documents with no collection, read only by their owner.

They are ingested by the same worker as collections' documents (parse, chunk, embed) and
searched by document id, so a conversation's files never appear in anyone's collections.
Deleting the conversation deletes them with their chunks, vectors and stored files.
"""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts.principal import Principal
from autan.chat.models import Conversation
from autan.core.events import DocumentsQueued, emit
from autan.documents.extraction import detect_format
from autan.documents.models import Document, DocumentStatus
from autan.documents.storage import FileStore, SpooledFile
from autan.retrieval.index import delete_document_chunks


def _clean_name(filename: str) -> str:
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip() or "document"
    return name[:255]


async def attach(
    session: AsyncSession,
    store: FileStore,
    principal: Principal,
    conversation: Conversation,
    filename: str,
    spooled: SpooledFile,
) -> Document:
    """File a received upload with a conversation, queued for ingestion.

    The same file attached twice to one conversation is the same document. An unsupported
    format is refused before anything is stored.
    """
    try:
        existing = await session.scalar(
            select(Document).where(
                Document.conversation_id == conversation.id,
                Document.sha256 == spooled.sha256,
            )
        )
        if existing is not None:
            spooled.discard()
            return existing
        data = await asyncio.to_thread(spooled.path.read_bytes)
        file_format = detect_format(data, filename)
    except BaseException:
        spooled.discard()
        raise
    store.keep(spooled)
    document = Document(
        collection_id=None,
        conversation_id=conversation.id,
        owner_id=principal.user_id,
        org_id=principal.org_id,
        name=_clean_name(filename),
        format=file_format,
        size_bytes=spooled.size,
        sha256=spooled.sha256,
        status=DocumentStatus.QUEUED,
    )
    session.add(document)
    emit(session, DocumentsQueued())
    await session.commit()
    return document


async def owned_attachment(
    session: AsyncSession, principal: Principal, document_id: uuid.UUID
) -> Document | None:
    """One of the caller's conversation files, or None."""
    found: Document | None = await session.scalar(
        select(Document).where(
            Document.id == document_id,
            Document.owner_id == principal.user_id,
            Document.conversation_id.is_not(None),
        )
    )
    return found


async def forget_attachments(session: AsyncSession, conversation_id: uuid.UUID) -> set[str]:
    """Delete a conversation's files and their chunks (not committed).

    Returns the digests of their stored bytes, to remove once the deletion is committed
    (with `documents.service.remove_unreferenced`, which keeps bytes another document uses).
    """
    documents = list(
        await session.scalars(select(Document).where(Document.conversation_id == conversation_id))
    )
    for document in documents:
        await delete_document_chunks(session, document.id)
    await session.execute(delete(Document).where(Document.conversation_id == conversation_id))
    return {d.sha256 for d in documents}
