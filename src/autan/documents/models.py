"""Tables of collections, documents, their chunks, and assistants built on collections."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np
from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    JSON,
    BigInteger,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

from autan.core.db import Base, TimestampMixin, new_id, utcnow

# The size of the vectors of the embedded multilingual-e5-small. Another embedding model
# with another size needs a new migration that alters `chunks.embedding` to `vector(N)` on
# PostgreSQL (and re-embeds every chunk); SQLite blobs carry any size.
EMBEDDING_DIMENSIONS = 384


class Visibility(StrEnum):
    """Who sees a collection: its owner, its organisation, or every user of the deployment."""

    PRIVATE = "private"
    ORGANISATION = "organisation"
    PUBLIC = "public"


class DocumentStatus(StrEnum):
    """Where a document is in its ingestion; only "ready" documents are searched."""

    QUEUED = "queued"
    PARSING = "parsing"
    INDEXING = "indexing"
    READY = "ready"
    FAILED = "failed"


class Embedding(TypeDecorator[np.ndarray]):
    """A vector: little-endian float32 bytes on SQLite, pgvector `vector(N)` on PostgreSQL.

    Python code always sees a float32 NumPy array.
    """

    impl = LargeBinary
    cache_ok = True

    def __init__(self, dimensions: int = EMBEDDING_DIMENSIONS) -> None:
        super().__init__()
        self.dimensions = dimensions

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Vector(self.dimensions))
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        array = np.asarray(value, dtype="<f4")
        if array.shape != (self.dimensions,):
            raise ValueError(f"expected a vector of {self.dimensions} numbers, got {array.shape}")
        return array if dialect.name == "postgresql" else array.tobytes()

    def process_result_value(self, value: Any, dialect: Any) -> np.ndarray | None:
        if value is None:
            return None
        if isinstance(value, bytes | bytearray | memoryview):
            return np.frombuffer(value, dtype="<f4").astype(np.float32)
        return np.asarray(value, dtype=np.float32)


class UpdatedMixin:
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Collection(TimestampMixin, UpdatedMixin, Base):
    """A named set of documents that assistants and searches draw on."""

    __tablename__ = "collections"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True, default=None
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[Visibility] = mapped_column(String(16), default=Visibility.PRIVATE)


class Document(TimestampMixin, UpdatedMixin, Base):
    """A file of a collection (or attached to one conversation), and its ingestion state."""

    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("collection_id", "sha256"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # None for a document attached to a conversation rather than filed in a collection.
    collection_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), default=None
    )
    # The conversation a document was attached to, if any.
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True, default=None
    )
    owner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    format: Mapped[str] = mapped_column(String(16))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[DocumentStatus] = mapped_column(
        String(16), index=True, default=DocumentStatus.QUEUED
    )
    # Why ingestion failed, in plain words for the user (English, as the API shows it).
    error: Mapped[str | None] = mapped_column(Text, default=None)
    # The same reason as a message template and its values, when it has values, so that the
    # UI can show it in the reader's language.
    error_template: Mapped[str | None] = mapped_column(Text, default=None)
    error_values: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str | None] = mapped_column(String(500), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Albert's document metadata: at most 10 scalar values, returned with every chunk and
    # matched by search filters (autan.documents.metadata).
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON, default=None)
    # Albert's chunking options of the upload (chunk_size...), None for Autan's own.
    chunking: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class Chunk(Base):
    """A passage of a document, the unit of search and citation.

    `lexical_content` and `lexical_headings` hold the words the lexical index sees
    (autan.retrieval.analysis); the index itself is engine-specific (created by the
    migrations, not described here): an FTS5 external-content table `chunks_fts` over those
    columns, kept in sync by triggers, on SQLite; a generated `search_vector` tsvector column
    with a GIN index on PostgreSQL.
    """

    __tablename__ = "chunks"
    # AUTOINCREMENT: ids are never reused, so (count, highest id) tells whether a
    # collection's chunks changed (autan.retrieval.vectors).
    __table_args__ = {"sqlite_autoincrement": True}

    # On SQLite an INTEGER PRIMARY KEY is the rowid, which FTS5 uses as its content key.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    document_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    # Copied from the document so that searches filter without a join.
    collection_id: Mapped[uuid.UUID | None] = mapped_column(index=True, default=None)
    position: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    page: Mapped[int | None] = mapped_column(Integer, default=None)
    pages: Mapped[str] = mapped_column(String(64), default="")
    headings: Mapped[str] = mapped_column(Text, default="")
    # The document title and the headings, then the content, as analysed for the index.
    lexical_headings: Mapped[str] = mapped_column(Text, default="")
    lexical_content: Mapped[str] = mapped_column(Text, default="")
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    embedding: Mapped[np.ndarray | None] = mapped_column(Embedding(), default=None)
    # A ready-made chunk's own metadata (POST /v1/documents/{id}/chunks), over its document's.
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON, default=None)
