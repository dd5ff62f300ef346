"""Albert's chunk routes: list a document's chunks, read one, add ready-made ones.

`GET /v1/chunks/{document}` and `GET /v1/chunks/{document}/{chunk}` are Albert's; the
same listing is under `GET /v1/documents/{document}/chunks`, where
`POST /v1/documents/{document}/chunks` adds chunks (Albert's `CreateChunks`, answered with
`ChunksResponse`: `document_id` and the new `ids`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from autan.core.body import json_body, parse_body
from autan.core.params import Offset
from autan.deps import CurrentPrincipal, ModelsDep, SessionDep, principal
from autan.documents import chunks_service
from autan.documents.chunks_service import ChunksIn
from autan.documents.errors import DocumentNotFound, NoEmbeddingModel
from autan.documents.models import Chunk, Document
from autan.documents.worker import IngestionWorker
from autan.retrieval.grounding import chunk_out
from autan.retrieval.search import SearchHit, merged_metadata
from autan.services import services_of

router = APIRouter(prefix="/v1", tags=["Documents (RAG)"], dependencies=[Depends(principal)])

Limit = Annotated[int, Query(ge=1, le=10_000, description="How many chunks (Albert: 1-100).")]


class ChunkNotFound(DocumentNotFound):
    code = "chunk_not_found"


def _document_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise DocumentNotFound() from None


def _out(document: Document, chunk: Chunk) -> dict[str, Any]:
    hit = SearchHit(
        chunk_id=chunk.id,
        document_id=document.id,
        collection_id=document.collection_id,
        document_name=document.name,
        content=chunk.content,
        page=chunk.page,
        pages=chunk.pages,
        headings=chunk.headings,
        position=chunk.position,
        score=0.0,
        method="",
        metadata=merged_metadata(document.meta, chunk.meta),
    )
    return {**chunk_out(hit), "created": int(document.created_at.timestamp())}


async def _listing(
    session: SessionDep, me: CurrentPrincipal, document_id: str, limit: int, offset: int
) -> dict[str, Any]:
    document, chunks = await chunks_service.chunk_page(
        session, me, _document_id(document_id), limit=limit, offset=offset
    )
    return {"object": "list", "data": [_out(document, chunk) for chunk in chunks]}


@router.get("/chunks/{document_id}")
async def list_chunks(
    document_id: str,
    me: CurrentPrincipal,
    session: SessionDep,
    limit: Limit = 10_000,
    offset: Offset = 0,
) -> dict[str, Any]:
    """The passages of a document, in order (all of them unless `limit` says otherwise)."""
    return await _listing(session, me, document_id, limit, offset)


@router.get("/chunks/{document_id}/{chunk_id}")
async def get_chunk(
    document_id: str, chunk_id: str, me: CurrentPrincipal, session: SessionDep
) -> dict[str, Any]:
    """One passage of a document."""
    if not chunk_id.isdigit():
        raise ChunkNotFound()
    document, chunks = await chunks_service.chunk_page(
        session, me, _document_id(document_id), limit=1, offset=0, chunk_id=int(chunk_id)
    )
    if not chunks:
        raise ChunkNotFound()
    return _out(document, chunks[0])


@router.get("/documents/{document_id}/chunks")
async def list_document_chunks(
    document_id: str,
    me: CurrentPrincipal,
    session: SessionDep,
    limit: Limit = 10_000,
    offset: Offset = 0,
) -> dict[str, Any]:
    """The passages of a document, in order (the same as `GET /v1/chunks/{document}`)."""
    return await _listing(session, me, document_id, limit, offset)


@router.post("/documents/{document_id}/chunks", status_code=201, openapi_extra=json_body(ChunksIn))
async def add_chunks(
    document_id: str,
    request: Request,
    me: CurrentPrincipal,
    session: SessionDep,
    models: ModelsDep,
) -> dict[str, Any]:
    """Add ready-made passages to a document; they are embedded and searchable at once."""
    body = await parse_body(request, ChunksIn)
    worker: IngestionWorker = services_of(request).documents
    model = worker.embedding_model()
    if model is None:
        raise NoEmbeddingModel()
    await services_of(request).quotas.check(me)

    async def embed(texts: Sequence[str]) -> list[list[float]]:
        # Embedded as sent: a client's ready-made chunk already says what it is about.
        return await models.embed(me, model, texts, input_type="passage")

    ids = await chunks_service.add_ready_chunks(session, me, _document_id(document_id), body, embed)
    return {"document_id": document_id, "ids": ids}
