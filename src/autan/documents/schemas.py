"""Bodies and answers of the RAG API, in the shape of the State's Albert API (OpenGateLLM).

Timestamps are Unix seconds, as in the OpenAI and Albert APIs. Our extensions to Albert's
document object (`status`, `progress`, `error`, `pages`, `format`, `size`) are what a client
needs to follow ingestion, which runs in the background here.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from autan.core.errors import InvalidRequest
from autan.documents.metadata import MetadataFilterIn
from autan.documents.models import Collection, Document, Visibility

SearchMethod = Literal["hybrid", "semantic", "lexical"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CollectionIn(_Strict):
    """`POST /v1/collections`."""

    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)
    visibility: Visibility = Visibility.PRIVATE


class SearchIn(_Strict):
    """`POST /v1/search`, in Albert's shape; `prompt`, `collections` and `k` still work.

    `collection_ids` and `document_ids` are a union (either may be empty, not both);
    `metadata_filters` (Albert's comparison or compound filter) narrows it to the documents
    whose metadata match.
    """

    query: str | None = Field(None, min_length=1, max_length=10_000)
    prompt: str | None = Field(None, min_length=1, max_length=10_000)
    collections: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    collection_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    document_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    k: StrictInt | None = Field(None, ge=1, le=50)
    limit: StrictInt | None = Field(None, ge=1, le=100)
    offset: StrictInt = Field(0, ge=0, le=150)
    method: SearchMethod = "hybrid"
    rff_k: StrictInt | None = Field(None, ge=1, le=1000)
    score_threshold: float | None = Field(None, ge=0.0, le=1.0)
    metadata_filters: MetadataFilterIn | None = None

    def all_collections(self) -> list[uuid.UUID]:
        """Albert's `collection_ids` and Autan's `collections`, once each."""
        return list(dict.fromkeys([*self.collection_ids, *self.collections]))

    def text(self) -> str:
        """What to search for: Albert's `query`, else its older `prompt` (Autan's)."""
        return self.query or self.prompt or ""

    def count(self) -> int:
        """How many results: `limit` (Albert), else `k` (Autan), else 5."""
        return self.limit or self.k or 5

    def check(self) -> None:
        """Raise `InvalidRequest` if this search cannot be done as asked."""
        if not self.text():
            raise InvalidRequest("Give the text to search for in `query`.", param="query")
        if not self.all_collections() and not self.document_ids:
            raise InvalidRequest(
                "Name at least one collection or document to search.", param="collection_ids"
            )
        if self.score_threshold and self.method != "semantic":
            raise InvalidRequest(
                "The score threshold is a cosine similarity: it only works with the "
                "semantic search method.",
                param="score_threshold",
            )


class SearchArgs(_Strict):
    """`search_args` of a chat completion with `search: true`."""

    collections: list[uuid.UUID] = Field(min_length=1, max_length=100)
    k: StrictInt = Field(5, ge=1, le=50)
    method: SearchMethod = "hybrid"


def _ts(value: Any) -> int:
    return int(value.timestamp())


def collection_out(collection: Collection, documents: int) -> dict[str, Any]:
    """A collection as the API shows it."""
    return {
        "object": "collection",
        "id": str(collection.id),
        "name": collection.name,
        "description": collection.description,
        "visibility": str(collection.visibility),
        "owner": str(collection.owner_id) if collection.owner_id else None,
        "documents": documents,
        "created_at": _ts(collection.created_at),
        "updated_at": _ts(collection.updated_at),
    }


def document_out(document: Document) -> dict[str, Any]:
    """A document and where its ingestion stands."""
    return {
        "object": "document",
        "id": str(document.id),
        "name": document.name,
        "collection": str(document.collection_id) if document.collection_id else None,
        "status": str(document.status),
        "progress": round(float(document.progress), 3),
        "error": document.error,
        "format": document.format,
        "size": document.size_bytes,
        "pages": document.pages,
        "chunks": document.chunk_count,
        "title": document.title,
        "metadata": document.meta,
        # Albert's names of the same facts.
        "collection_id": str(document.collection_id) if document.collection_id else None,
        "created": _ts(document.created_at),
        "created_at": _ts(document.created_at),
        "updated_at": _ts(document.updated_at),
    }


def listing(data: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "list", "data": data}
