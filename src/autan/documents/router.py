"""The RAG API in the shape of the State's Albert API: collections, documents, chunks, search.

Callers authenticate with an API key or a browser session. A collection, document or
chunk the caller may not see answers "not found", exactly like one that does not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.datastructures import UploadFile

from autan.core.body import json_body, parse_body
from autan.core.errors import InvalidRequest
from autan.core.params import Offset
from autan.deps import CurrentPrincipal, ModelsDep, SessionDep, principal
from autan.documents import service
from autan.documents.albert_chunking import parse_options
from autan.documents.errors import (
    CollectionNotFound,
    DocumentNotFound,
    FileTooLarge,
    MissingFile,
)
from autan.documents.metadata import matching_documents, parse_metadata
from autan.documents.permissions import readable_collection_ids
from autan.documents.schemas import (
    CollectionIn,
    SearchIn,
    collection_out,
    document_out,
    listing,
)
from autan.documents.settings import MULTIPART_SLACK, DocumentSettings
from autan.documents.worker import IngestionWorker
from autan.retrieval.grounding import retrieve, search_result
from autan.services import services_of

router = APIRouter(
    prefix="/v1",
    tags=["Documents (RAG)"],
    dependencies=[Depends(principal)],
)

_COPY_CHUNK = 1024 * 1024


def upload_body_limits(settings: DocumentSettings) -> dict[str, tuple[int, str]]:
    """The admission limit of upload bodies: a file of the documents' limit, with framing."""
    limit = (
        settings.max_file_bytes + MULTIPART_SLACK,
        FileTooLarge(settings.max_file_bytes).message,
    )
    # The chat's attachments are the same files, sent from the conversation page.
    # The knowledge workspace's uploads too (`documents.pages.UPLOAD_PATH`).
    # `/v1/ocr` takes the same file as a base64 data URI in JSON: a third larger.
    encoded = (settings.max_file_bytes * 4 // 3 + MULTIPART_SLACK, limit[1])
    return {
        "/v1/documents": limit,
        "/chat/attachments": limit,
        "/collections/upload": limit,
        "/v1/ocr": encoded,
    }


async def get_worker(request: Request) -> IngestionWorker:
    worker: IngestionWorker = services_of(request).documents
    return worker


WorkerDep = Annotated[IngestionWorker, Depends(get_worker)]


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidRequest(
            "`{what}` must be an id such as {example}.",
            param=what,
            values={"what": what, "example": str(uuid.UUID(int=0))},
        ) from None


def _document_id(value: str) -> uuid.UUID:
    # An id that cannot exist is "not found", like any other missing document.
    try:
        return uuid.UUID(value)
    except ValueError:
        raise DocumentNotFound() from None


# --- collections -------------------------------------------------------------------------


@router.post("/collections", status_code=201, openapi_extra=json_body(CollectionIn))
async def create_collection(
    request: Request, principal: CurrentPrincipal, session: SessionDep
) -> dict[str, Any]:
    """Create a collection (private by default; organisation and public need a role)."""
    body = await parse_body(request, CollectionIn)
    collection = await service.create_collection(
        session,
        principal,
        name=body.name,
        description=body.description,
        visibility=body.visibility,
    )
    return collection_out(collection, 0)


@router.get("/collections")
async def list_collections(principal: CurrentPrincipal, session: SessionDep) -> dict[str, Any]:
    """The collections I can see: mine, my organisation's, and public ones."""
    rows = await service.list_collections(session, principal)
    return listing([collection_out(c, n) for c, n in rows])


@router.get("/collections/{collection_id}")
async def get_collection(
    collection_id: str, principal: CurrentPrincipal, session: SessionDep
) -> dict[str, Any]:
    """One collection."""
    collection = await service.get_collection(session, principal, _collection_id(collection_id))
    return collection_out(collection, await service.count_documents(session, collection.id))


@router.delete("/collections/{collection_id}", status_code=204)
async def delete_collection(
    collection_id: str, principal: CurrentPrincipal, session: SessionDep, worker: WorkerDep
) -> Response:
    """Delete a collection with its documents, passages and files."""
    await service.delete_collection(session, worker.store, principal, _collection_id(collection_id))
    return Response(status_code=204)


def _collection_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise CollectionNotFound() from None


# --- documents ---------------------------------------------------------------------------


@router.post(
    "/documents",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "collection": {"type": "string", "format": "uuid"},
                            "collection_id": {"type": "string", "format": "uuid"},
                            "name": {"type": "string"},
                            "metadata": {"type": "string", "description": "A JSON object."},
                            "disable_chunking": {"type": "boolean"},
                            "chunk_size": {"type": "integer"},
                            "chunk_overlap": {"type": "integer"},
                            "chunk_min_size": {"type": "integer"},
                            "is_separator_regex": {"type": "boolean"},
                            "separators": {"type": "array", "items": {"type": "string"}},
                        },
                    }
                }
            },
        }
    },
)
async def upload_document(
    request: Request,
    response: Response,
    principal: CurrentPrincipal,
    session: SessionDep,
    worker: WorkerDep,
) -> dict[str, Any]:
    """Send a file into a collection; it is parsed and indexed in the background.

    The answer comes at once with `status: queued`; follow it with `GET /v1/documents/{id}`.
    The same file sent again to the same collection answers the existing document (200).
    """
    limit = worker.settings.max_file_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + MULTIPART_SLACK:
        raise FileTooLarge(limit)  # refused before a byte is read
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise MissingFile()
    async with request.form(max_files=1, max_fields=48) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise MissingFile()
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        separators = [v for v in form.getlist("separators") if isinstance(v, str)]
        # Albert's `collection_id`, and `collection` (Autan's, and Albert's older name).
        collection = fields.get("collection_id") or fields.get("collection")
        if not collection or not collection.strip():
            raise InvalidRequest("Say which collection the document goes to.", param="collection")
        collection_id = _uuid(collection.strip(), "collection")
        metadata = parse_metadata(fields.get("metadata"))
        chunking = parse_options(fields, separators)
        name = (fields.get("name") or "").strip()[:255] or upload.filename
        spooled = await worker.store.spool(_read(upload), limit)
    result = await service.upload(
        session,
        worker.store,
        principal,
        collection_id=collection_id,
        filename=name or "document",
        spooled=spooled,
        metadata=metadata,
        chunking=chunking.to_json() if chunking else None,
    )
    if not result.created:
        response.status_code = 200
    return document_out(result.document)


async def _read(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(_COPY_CHUNK):
        yield chunk


@router.get("/documents")
async def list_documents(
    principal: CurrentPrincipal,
    session: SessionDep,
    collection: Annotated[str | None, Query(description="Only this collection.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Documents of the collections I can see, newest first."""
    collection_id = _collection_id(collection) if collection else None
    documents = await service.list_documents(
        session, principal, collection_id=collection_id, limit=limit, offset=offset
    )
    return listing([document_out(d) for d in documents])


@router.get("/documents/{document_id}")
async def get_document(
    document_id: str, principal: CurrentPrincipal, session: SessionDep
) -> dict[str, Any]:
    """A document and its ingestion status, progress and error."""
    return document_out(await service.get_document(session, principal, _document_id(document_id)))


@router.delete("/documents/{document_id}", status_code=204)
async def delete_document(
    document_id: str, principal: CurrentPrincipal, session: SessionDep, worker: WorkerDep
) -> Response:
    """Delete a document, its passages, and its file."""
    await service.delete_document(session, worker.store, principal, _document_id(document_id))
    return Response(status_code=204)


# --- search ------------------------------------------------------------------------------


@router.post("/search", openapi_extra=json_body(SearchIn))
async def search(
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    models: ModelsDep,
    worker: WorkerDep,
) -> dict[str, Any]:
    """The passages of my collections closest to a prompt (hybrid, semantic or lexical)."""
    body = await parse_body(request, SearchIn)
    body.check()
    documents = await service.readable_document_ids(session, principal, body.document_ids)
    collections = body.all_collections()
    if body.metadata_filters is not None:
        # Narrowed in SQL to the matching documents, then searched as a set of documents.
        allowed = await readable_collection_ids(session, principal, collections)
        documents = await matching_documents(session, body.metadata_filters, allowed, documents)
        collections = []
        if not documents:
            return listing([])
    tuning = services_of(request).settings.retrieval
    if body.rff_k is not None:
        # Albert's hybrid search is reciprocal rank fusion with this constant.
        tuning = tuning.model_copy(update={"fusion": "rank", "rrf_k": body.rff_k})
    # A search embeds its prompt on the shared model: it counts like any model request.
    await services_of(request).quotas.check(principal)
    hits = await retrieve(
        session,
        models,
        principal,
        embedding_model=worker.embedding_model(),
        prompt=body.text(),
        collections=collections,
        document_ids=documents,
        k=body.offset + body.count(),
        method=body.method,
        tuning=tuning,
    )
    hits = hits[body.offset :]
    if body.score_threshold:
        hits = [hit for hit in hits if hit.score >= body.score_threshold]
    return listing([search_result(hit) for hit in hits])
