"""Collections and documents: create, list, read, delete, upload, with permission checks.

Services own the transaction. Files are stored by content (`storage.FileStore`); a file is
removed from disk once no document references it any more.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts.principal import Principal
from autan.core.events import DocumentsQueued, emit
from autan.documents.errors import (
    CannotManageCollection,
    CollectionNotFound,
    DocumentNotFound,
)
from autan.documents.extraction import detect_format
from autan.documents.models import Chunk, Collection, Document, DocumentStatus, Visibility
from autan.documents.permissions import (
    can_manage_collection,
    require_can_create,
    visible_collections,
)
from autan.documents.storage import FileStore, SpooledFile
from autan.retrieval.index import delete_document_chunks
from autan.retrieval.vectors import matrix_cache


@dataclass(frozen=True, slots=True)
class Upload:
    """The result of an upload: the document, and whether it is new or a known file."""

    document: Document
    created: bool


# --- collections -------------------------------------------------------------------------


async def create_collection(
    session: AsyncSession,
    principal: Principal,
    *,
    name: str,
    description: str = "",
    visibility: Visibility = Visibility.PRIVATE,
) -> Collection:
    """A new collection owned by the caller, in the caller's organisation."""
    require_can_create(principal, visibility)
    collection = Collection(
        org_id=principal.org_id,
        owner_id=principal.user_id,
        name=name,
        description=description,
        visibility=visibility,
    )
    session.add(collection)
    await session.commit()
    return collection


async def list_collections(
    session: AsyncSession, principal: Principal
) -> list[tuple[Collection, int]]:
    """Every collection the caller sees, with its number of documents, newest first."""
    visible = visible_collections(principal).subquery()
    counts = (
        select(Document.collection_id, func.count().label("n"))
        .group_by(Document.collection_id)
        .subquery()
    )
    rows = await session.execute(
        select(Collection, func.coalesce(counts.c.n, 0))
        .join(visible, visible.c.id == Collection.id)
        .outerjoin(counts, counts.c.collection_id == Collection.id)
        .order_by(Collection.created_at.desc())
    )
    return [(collection, int(n)) for collection, n in rows.all()]


async def get_collection(
    session: AsyncSession, principal: Principal, collection_id: uuid.UUID
) -> Collection:
    """A collection the caller sees; any other is "not found", whether it exists or not."""
    visible = visible_collections(principal).subquery()
    found = await session.scalar(
        select(Collection)
        .join(visible, visible.c.id == Collection.id)
        .where(Collection.id == collection_id)
    )
    if found is None:
        raise CollectionNotFound()
    return found


async def managed_collection(
    session: AsyncSession, principal: Principal, collection_id: uuid.UUID
) -> Collection:
    """A collection the caller may change (add or remove documents, delete)."""
    collection = await get_collection(session, principal, collection_id)
    if not can_manage_collection(principal, collection):
        raise CannotManageCollection()
    return collection


async def count_documents(session: AsyncSession, collection_id: uuid.UUID) -> int:
    """How many documents a collection holds."""
    n = await session.scalar(
        select(func.count()).select_from(Document).where(Document.collection_id == collection_id)
    )
    return int(n or 0)


async def delete_collection(
    session: AsyncSession, store: FileStore, principal: Principal, collection_id: uuid.UUID
) -> None:
    """Delete a collection, its documents, their chunks and (unshared) files."""
    collection = await managed_collection(session, principal, collection_id)
    documents = list(
        await session.scalars(select(Document).where(Document.collection_id == collection.id))
    )
    for document in documents:
        await delete_document_chunks(session, document.id)
    await session.execute(delete(Document).where(Document.collection_id == collection.id))
    await session.delete(collection)
    await session.commit()
    matrix_cache.invalidate(collection.id)  # again: a search may have cached it meanwhile
    await remove_unreferenced(session, store, {d.sha256 for d in documents})


# --- documents ---------------------------------------------------------------------------


def _visible_documents(principal: Principal) -> Select[Document]:
    visible = visible_collections(principal).subquery()
    return select(Document).join(visible, visible.c.id == Document.collection_id)


async def get_document(
    session: AsyncSession, principal: Principal, document_id: uuid.UUID
) -> Document:
    """A document of a collection the caller sees (or that the caller owns)."""
    found = await session.scalar(_visible_documents(principal).where(Document.id == document_id))
    if found is None:
        owned = await session.get(Document, document_id)
        if owned is None or owned.owner_id != principal.user_id or owned.collection_id:
            raise DocumentNotFound()
        found = owned  # a document attached to one of the caller's conversations
    return found


async def readable_document_ids(
    session: AsyncSession, principal: Principal, requested: list[uuid.UUID]
) -> list[uuid.UUID]:
    """The requested documents, once each, if the caller may read them all (else not found)."""
    wanted = list(dict.fromkeys(requested))
    for document_id in wanted:
        await get_document(session, principal, document_id)
    return wanted


async def list_documents(
    session: AsyncSession,
    principal: Principal,
    *,
    collection_id: uuid.UUID | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Document]:
    """Documents of the collections the caller sees, newest first."""
    query = _visible_documents(principal)
    if collection_id is not None:
        await get_collection(session, principal, collection_id)
        query = query.where(Document.collection_id == collection_id)
    query = query.order_by(Document.created_at.desc(), Document.id).limit(limit).offset(offset)
    return list(await session.scalars(query))


async def list_chunks(
    session: AsyncSession, principal: Principal, document_id: uuid.UUID
) -> tuple[Document, list[Chunk]]:
    """A document the caller sees and its passages, in order."""
    document = await get_document(session, principal, document_id)
    chunks = await session.scalars(
        select(Chunk).where(Chunk.document_id == document.id).order_by(Chunk.position)
    )
    return document, list(chunks)


async def delete_document(
    session: AsyncSession, store: FileStore, principal: Principal, document_id: uuid.UUID
) -> None:
    """Delete a document, its chunks and its file (unless another document shares it)."""
    document = await get_document(session, principal, document_id)
    if document.collection_id is not None:
        await managed_collection(session, principal, document.collection_id)
    elif document.owner_id != principal.user_id:
        raise DocumentNotFound()
    await delete_document_chunks(session, document.id)
    await session.execute(delete(Document).where(Document.id == document.id))
    await session.commit()
    matrix_cache.invalidate(document.collection_id)  # again: a search may have cached it meanwhile
    await remove_unreferenced(session, store, {document.sha256})


async def reingest_document(
    session: AsyncSession, principal: Principal, document_id: uuid.UUID
) -> Document:
    """Queue a document of a collection the caller manages to be read and indexed again.

    Useful after a failure, or once the deployment reads documents better (OCR, limits). The
    worker replaces its passages when it is done; one being read already is left as it is.
    """
    document = await get_document(session, principal, document_id)
    if document.collection_id is None:
        raise DocumentNotFound()  # a conversation's attachment: the chat owns it
    await managed_collection(session, principal, document.collection_id)
    if document.status in (DocumentStatus.READY, DocumentStatus.FAILED):
        document.status = DocumentStatus.QUEUED
        document.error = None
        document.error_template = None
        document.error_values = None
        document.progress = 0.0
        document.attempts = 0
        emit(session, DocumentsQueued())
        await session.commit()
    return document


async def remove_unreferenced(session: AsyncSession, store: FileStore, digests: set[str]) -> None:
    """Remove the stored files of these digests that no document references any more."""
    if not digests:
        return
    used = set(await session.scalars(select(Document.sha256).where(Document.sha256.in_(digests))))
    for sha in digests - used:
        store.remove(sha)


async def upload(
    session: AsyncSession,
    store: FileStore,
    principal: Principal,
    *,
    collection_id: uuid.UUID,
    filename: str,
    spooled: SpooledFile,
    metadata: dict[str, Any] | None = None,
    chunking: dict[str, Any] | None = None,
) -> Upload:
    """File a received document into a collection, queued for ingestion.

    The same bytes already in the collection give back that document (sent again after a
    failure, it is queued once more). An unsupported format is refused at once.
    """
    try:
        collection = await managed_collection(session, principal, collection_id)
        existing = await _same_file(session, collection.id, spooled.sha256)
        if existing is not None:
            spooled.discard()
            await requeue_if_failed(session, existing)
            return Upload(existing, created=False)
        data = await asyncio.to_thread(spooled.path.read_bytes)
        file_format = detect_format(data, filename)
    except BaseException:
        spooled.discard()
        raise
    store.keep(spooled)
    document = Document(
        collection_id=collection.id,
        owner_id=principal.user_id,
        org_id=collection.org_id,
        name=_clean_name(filename),
        format=file_format,
        size_bytes=spooled.size,
        sha256=spooled.sha256,
        status=DocumentStatus.QUEUED,
        meta=metadata,
        chunking=chunking,
    )
    session.add(document)
    emit(session, DocumentsQueued())
    try:
        await session.commit()
    except IntegrityError:
        # The same file sent twice at once: the other request filed it first.
        await session.rollback()
        existing = await _same_file(session, collection.id, spooled.sha256)
        if existing is None:
            raise
        return Upload(existing, created=False)
    return Upload(document, created=True)


async def _same_file(
    session: AsyncSession, collection_id: uuid.UUID, sha256: str
) -> Document | None:
    found: Document | None = await session.scalar(
        select(Document).where(Document.collection_id == collection_id, Document.sha256 == sha256)
    )
    return found


async def requeue_if_failed(session: AsyncSession, document: Document) -> bool:
    """Queue a failed document again, for a fresh set of attempts."""
    if document.status != DocumentStatus.FAILED:
        return False
    document.status = DocumentStatus.QUEUED
    document.error = None
    document.progress = 0.0
    document.attempts = 0
    emit(session, DocumentsQueued())
    await session.commit()
    return True


def _clean_name(filename: str) -> str:
    # Browsers may send a full Windows path; keep the last part, bounded to the column.
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip() or "document"
    return name[:255]


async def documents_by_ids(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Document]:
    """Documents by id (no permission check: for the worker and the CLI)."""
    if not ids:
        return {}
    rows = await session.scalars(select(Document).where(Document.id.in_(ids)))
    return {d.id: d for d in rows}
