"""Ready-made chunks (Albert's `POST /v1/documents/{id}/chunks`) and chunk listings.

A client that cut its text itself sends passages with optional metadata; they are embedded
on the way in with the deployment's embedding model and indexed like any other passage.
Only who may manage the document's collection may add to it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts.principal import Principal
from autan.core.errors import Conflict
from autan.documents.chunking import count_tokens
from autan.documents.errors import DocumentNotFound
from autan.documents.metadata import Metadata, check_metadata
from autan.documents.models import Chunk, Document, DocumentStatus
from autan.documents.service import get_document, managed_collection
from autan.retrieval.index import add_chunks

MAX_CHUNKS = 64  # Albert's bound per request
MAX_CHUNK_CHARS = 20_000
MAX_TOTAL_CHARS = 1_000_000


class ChunkIn(BaseModel):
    """Albert's `InputChunk`."""

    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1, max_length=MAX_CHUNK_CHARS)
    metadata: dict[str, Any] | None = None

    @field_validator("content")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a chunk needs some text")
        return value


class ChunksIn(BaseModel):
    """Albert's `CreateChunks`."""

    model_config = ConfigDict(extra="forbid")

    chunks: list[ChunkIn] = Field(min_length=1, max_length=MAX_CHUNKS)


class DocumentBusy(Conflict):
    code = "document_not_ready"

    def __init__(self) -> None:
        super().__init__(
            "This document is still being read: add chunks once it is ready.", param="document"
        )


@dataclass(frozen=True, slots=True)
class _Draft:
    """A ready-made chunk in the shape the index writes."""

    text: str
    page: int | None
    pages: tuple[int, ...]
    headings: tuple[str, ...]
    position: int
    tokens: int


Embedder = Callable[[Sequence[str]], Awaitable[list[list[float]]]]


async def writable_document(
    session: AsyncSession, principal: Principal, document_id: uuid.UUID
) -> Document:
    """A document the caller may add chunks to (else not found, or forbidden)."""
    document = await get_document(session, principal, document_id)
    if document.collection_id is None:
        raise DocumentNotFound()  # a conversation's attachment is not Albert's document
    await managed_collection(session, principal, document.collection_id)
    return document


async def add_ready_chunks(
    session: AsyncSession,
    principal: Principal,
    document_id: uuid.UUID,
    body: ChunksIn,
    embed: Embedder,
) -> list[int]:
    """Embed and index ready-made chunks at the end of a document; their new ids."""
    metadata: list[Metadata | None] = [
        check_metadata(chunk.metadata, f"chunks.{i}.metadata")
        for i, chunk in enumerate(body.chunks)
    ]
    if sum(len(chunk.content) for chunk in body.chunks) > MAX_TOTAL_CHARS:
        raise Conflict("Too much text in one request: send the chunks in smaller batches.")
    document = await writable_document(session, principal, document_id)
    if document.status not in (DocumentStatus.READY, DocumentStatus.FAILED):
        raise DocumentBusy()
    start = await session.scalar(
        select(func.coalesce(func.max(Chunk.position), -1)).where(Chunk.document_id == document.id)
    )
    drafts = [
        _Draft(
            chunk.content,
            None,
            (),
            (),
            (start if start is not None else -1) + 1 + i,
            count_tokens(chunk.content),
        )
        for i, chunk in enumerate(body.chunks)
    ]
    vectors = await embed([draft.text for draft in drafts])
    await add_chunks(session, document, drafts, vectors)
    created = list(
        (
            await session.scalars(
                select(Chunk.id)
                .where(Chunk.document_id == document.id, Chunk.position >= drafts[0].position)
                .order_by(Chunk.position)
            )
        ).all()
    )
    for chunk_id, meta in zip(created, metadata, strict=True):
        if meta:
            await session.execute(update(Chunk).where(Chunk.id == chunk_id).values(meta=meta))
    count = await session.scalar(select(func.count()).where(Chunk.document_id == document.id))
    await session.execute(
        update(Document)
        .where(Document.id == document.id)
        .values(chunk_count=int(count or 0), status=DocumentStatus.READY, error=None, progress=1.0)
    )
    await session.commit()
    return created


async def chunk_page(
    session: AsyncSession,
    principal: Principal,
    document_id: uuid.UUID,
    *,
    limit: int,
    offset: int,
    chunk_id: int | None = None,
) -> tuple[Document, list[Chunk]]:
    """A page of a readable document's chunks in order (or the one chunk asked for)."""
    document = await get_document(session, principal, document_id)
    statement = select(Chunk).where(Chunk.document_id == document.id)
    if chunk_id is not None:
        statement = statement.where(Chunk.id == chunk_id)
    rows = await session.scalars(statement.order_by(Chunk.position).limit(limit).offset(offset))
    return document, list(rows)
