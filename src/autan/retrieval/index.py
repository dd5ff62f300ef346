"""Writing chunks into the search indexes: rows, vectors and lexical entries, on both engines.

A chunk row carries its analysed words (`lexical_*`) and the lexical index follows the rows
by itself (FTS5 triggers on SQLite, a generated tsvector on PostgreSQL), so writing a chunk
row is writing everything. After each write the engine's backend forgets what it
kept about the touched collections (on SQLite their in-memory vector matrices).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from autan.documents.models import Chunk, Document
from autan.retrieval.analysis import index_words
from autan.retrieval.backend import backend_for


class ChunkDraftLike(Protocol):
    """What a chunk draft (autan.documents.chunking.ChunkDraft) offers to the index."""

    @property
    def text(self) -> str: ...
    @property
    def page(self) -> int | None: ...
    @property
    def pages(self) -> tuple[int, ...]: ...
    @property
    def headings(self) -> tuple[str, ...]: ...
    @property
    def position(self) -> int: ...
    @property
    def tokens(self) -> int: ...


HEADING_SEPARATOR = " > "


def passage_text(document_title: str | None, draft: ChunkDraftLike) -> str:
    """The text to embed for a chunk: its document title and headings, then its content.

    A passage read alone often lacks its subject ("Les conditions sont les suivantes...");
    the title and section path put it back. The model client adds e5's "passage: " prefix.
    """
    path = [part.strip() for part in (document_title or "", *draft.headings) if part.strip()]
    if not path:
        return draft.text
    return f"{HEADING_SEPARATOR.join(path)}\n{draft.text}"


def pages_label(pages: Sequence[int]) -> str:
    """How a citation names the pages of a chunk: "3", "3-4" or ""."""
    if not pages:
        return ""
    first, last = min(pages), max(pages)
    return str(first) if first == last else f"{first}-{last}"


async def add_chunks(
    session: AsyncSession,
    document: Document,
    drafts: Sequence[ChunkDraftLike],
    vectors: Sequence[Sequence[float] | None],
) -> int:
    """Insert a document's chunks with their vectors; returns how many. Does not commit.

    A chunk without a vector (None) is found by lexical search only.
    """
    if len(drafts) != len(vectors):
        raise ValueError(f"{len(drafts)} chunks but {len(vectors)} vectors")
    if not drafts:
        return 0
    rows = [
        {
            "document_id": document.id,
            "collection_id": document.collection_id,
            "position": draft.position,
            "content": draft.text,
            "page": draft.page,
            "pages": pages_label(draft.pages),
            "headings": HEADING_SEPARATOR.join(draft.headings),
            "lexical_headings": index_words([document.title or "", *draft.headings]),
            "lexical_content": index_words([draft.text]),
            "tokens": draft.tokens,
            "embedding": vector,
        }
        for draft, vector in zip(drafts, vectors, strict=True)
    ]
    await session.execute(insert(Chunk), rows)
    backend_for(session).chunks_written([document.collection_id])
    return len(rows)


async def delete_document_chunks(session: AsyncSession, document_id: uuid.UUID) -> None:
    """Remove a document's chunks, their vectors and lexical entries. Does not commit."""
    collection_ids = (
        await session.scalars(
            select(Chunk.collection_id).where(Chunk.document_id == document_id).distinct()
        )
    ).all()
    await session.execute(delete(Chunk).where(Chunk.document_id == document_id))
    backend_for(session).chunks_written(collection_ids)
