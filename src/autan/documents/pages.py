"""Pages of the knowledge workspace: collections, their documents, uploads and search.

Each route parses, calls the same `documents.service` function as the RAG API, and renders:
there is one implementation of every action. A collection the caller may not see answers
"not found" like one that does not exist; one they see but may not change, "forbidden".
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile

from autan.accounts.models import Role
from autan.accounts.principal import Principal
from autan.core.error_handlers import STATUS_OF_KIND
from autan.core.errors import AutanError, InvalidRequest
from autan.core.params import SearchText
from autan.deps import CurrentPrincipal, CurrentSession, ModelsDep, SessionDep, principal
from autan.documents import service
from autan.documents.errors import (
    CollectionNotFound,
    DocumentNotFound,
    FileTooLarge,
    MissingFile,
    VisibilityNotAllowed,
)
from autan.documents.models import Collection, Document, Visibility
from autan.documents.permissions import can_manage_collection
from autan.documents.settings import MULTIPART_SLACK
from autan.documents.worker import IngestionWorker
from autan.llm.client import ModelClient
from autan.retrieval.grounding import retrieve
from autan.retrieval.search import SearchHit
from autan.services import services_of
from autan.web import forms
from autan.web.charter_guard import require_charter
from autan.web.errors import fill_in, translate
from autan.web.pages import render_page, templates_of
from autan.web.templating import request_language

router = APIRouter(
    include_in_schema=False, dependencies=[Depends(principal), Depends(require_charter)]
)

# The path of the page's uploads, which gets the documents' body limit (see documents.router).
UPLOAD_PATH = "/collections/upload"
STATES = {
    "queued": "Waiting to be read",
    "parsing": "Reading",
    "indexing": "Indexing",
    "ready": "Ready",
    "failed": "Could not be read",
}
# Shown in the browser; anything else is downloaded (an uploaded HTML file must never run
# as a page of this site).
_INLINE = {"pdf": "application/pdf", "txt": "text/plain; charset=utf-8"}
SEARCH_RESULTS = 8


def _worker(request: Request) -> IngestionWorker:
    return services_of(request).documents


def visibilities(me: Principal) -> list[str]:
    """The visibilities this person may give a new collection."""
    allowed = [Visibility.PRIVATE.value]
    if me.role in (Role.ADMIN, Role.REFERENT):
        allowed.append(Visibility.ORGANISATION.value)
    if me.role == Role.ADMIN:
        allowed.append(Visibility.PUBLIC.value)
    return allowed


def document_view(request: Request, document: Document) -> dict[str, Any]:
    """A document as the pages show it: its state and any failure in the reader's language."""
    lang = request_language(request)
    templates = templates_of(request)
    error = None
    if document.error_template and document.error_values:
        error = fill_in(templates, lang, document.error_template, document.error_values)
    elif document.error:
        error = templates.gettext(lang, document.error)
    return {
        "id": str(document.id),
        "name": document.name,
        "format": document.format,
        "size": document.size_bytes,
        "pages": document.pages,
        "chunks": document.chunk_count,
        "status": str(document.status),
        "label": templates.gettext(lang, STATES.get(str(document.status), "Reading")),
        "progress": round(float(document.progress), 3),
        "error": error,
    }


# -- the list ---------------------------------------------------------------------------------


async def _list_page(
    request: Request,
    me: Principal,
    csrf: str,
    session: AsyncSession,
    *,
    form: dict[str, str] | None = None,
    error: AutanError | None = None,
) -> HTMLResponse:
    rows = await service.list_collections(session, me)
    context = {
        "collections": [
            {"row": c, "documents": n, "manage": can_manage_collection(me, c)} for c, n in rows
        ],
        "visibilities": visibilities(me),
        "form": form or {"name": "", "description": "", "visibility": "private"},
        "error": translate(request, error) if error else "",
        "error_field": error.param if error else None,
        "deleted": request.query_params.get("deleted") == "1",
    }
    status = STATUS_OF_KIND[error.kind] if error else 200
    return await render_page(
        request, "workspace/collections.html", me, csrf, session, context, status
    )


@router.get("/collections")
async def collections_page(
    request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> HTMLResponse:
    """The collections I may read: mine, my organisation's and public ones; a form to add one."""
    return await _list_page(request, me, data.csrf, session)


@router.post("/collections")
async def create_collection(
    request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> Response:
    """Create a collection, then open it; on a mistake the form comes back as typed."""
    raw = await request.form()
    typed = {
        "name": str(raw.get("name", ""))[:250],
        "description": str(raw.get("description", ""))[:10_100],
        "visibility": str(raw.get("visibility", "private"))[:16],
    }
    try:
        name = forms.text(raw, "name", 200)
        if not name:
            raise forms.FormError("Give the collection a name.", "name")
        description = forms.text(raw, "description", 10_000)
        try:
            visibility = Visibility(typed["visibility"])
        except ValueError:
            raise VisibilityNotAllowed(typed["visibility"]) from None
        created = await service.create_collection(
            session, me, name=name, description=description, visibility=visibility
        )
    except AutanError as exc:
        return await _list_page(request, me, data.csrf, session, form=typed, error=exc)
    return RedirectResponse(f"/collections/{created.id}", status_code=303)


# -- one collection ---------------------------------------------------------------------------


async def _collection(session: AsyncSession, me: Principal, value: str) -> Collection:
    try:
        collection_id = uuid.UUID(value)
    except ValueError:
        raise CollectionNotFound() from None
    return await service.get_collection(session, me, collection_id)


async def _search(
    request: Request,
    me: Principal,
    session: AsyncSession,
    models: ModelClient,
    collection: Collection,
    q: str,
) -> list[SearchHit]:
    # A search embeds its words on the shared model: it counts like any model request.
    await services_of(request).quotas.check(me)
    return await retrieve(
        session,
        models,
        me,
        embedding_model=_worker(request).embedding_model(),
        prompt=q,
        collections=[collection.id],
        k=SEARCH_RESULTS,
        tuning=services_of(request).settings.retrieval,
    )


@router.get("/collections/{collection_id}")
async def collection_page(
    collection_id: str,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
    models: ModelsDep,
    q: SearchText = "",
) -> HTMLResponse:
    """A collection: its documents and their state, uploads, and a search in its passages."""
    collection = await _collection(session, me, collection_id)
    documents = await service.list_documents(session, me, collection_id=collection.id, limit=1000)
    hits: list[SearchHit] = []
    search_error = ""
    if q.strip():
        try:
            hits = await _search(request, me, session, models, collection, q.strip())
        except AutanError as exc:
            search_error = translate(request, exc)
    context = {
        "collection": collection,
        "manage": can_manage_collection(me, collection),
        "documents": [document_view(request, d) for d in documents],
        "q": q.strip(),
        "hits": hits,
        "search_error": search_error,
        "notice": request.query_params.get("done", ""),
        "max_bytes": _worker(request).settings.max_file_bytes,
    }
    return await render_page(request, "workspace/collection.html", me, data.csrf, session, context)


@router.get("/collections/{collection_id}/documents")
async def documents_fragment(
    collection_id: str,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
) -> HTMLResponse:
    """The documents table alone, which the page refreshes while files are being read."""
    collection = await _collection(session, me, collection_id)
    documents = await service.list_documents(session, me, collection_id=collection.id, limit=1000)
    context = {
        "collection": collection,
        "manage": can_manage_collection(me, collection),
        "documents": [document_view(request, d) for d in documents],
        "csrf_token": data.csrf,
    }
    return templates_of(request).render(request, "workspace/_documents.html", context)


@router.get("/collections/{collection_id}/delete")
async def delete_collection_page(
    collection_id: str,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
) -> HTMLResponse:
    """Ask before deleting a collection and its documents."""
    collection = await _collection(session, me, collection_id)
    await service.managed_collection(session, me, collection.id)
    count = await service.count_documents(session, collection.id)
    context = {"collection": collection, "count": count}
    return await render_page(
        request, "workspace/delete_collection.html", me, data.csrf, session, context
    )


@router.post("/collections/{collection_id}/delete")
async def delete_collection(
    collection_id: str, request: Request, me: CurrentPrincipal, session: SessionDep
) -> RedirectResponse:
    """Delete a collection with its documents, passages and files."""
    collection = await _collection(session, me, collection_id)
    await service.delete_collection(session, _worker(request).store, me, collection.id)
    return RedirectResponse("/collections?deleted=1", status_code=303)


# -- documents --------------------------------------------------------------------------------


def _document_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise DocumentNotFound() from None


@router.post("/documents/{document_id}/reingest")
async def reingest(
    document_id: str, request: Request, me: CurrentPrincipal, session: SessionDep
) -> RedirectResponse:
    """Read and index a document again (after a failure, or to benefit from a better reader)."""
    document = await service.reingest_document(session, me, _document_id(document_id))
    return RedirectResponse(f"/collections/{document.collection_id}?done=reingest", status_code=303)


@router.post("/documents/{document_id}/delete")
async def delete_document(
    document_id: str, request: Request, me: CurrentPrincipal, session: SessionDep
) -> RedirectResponse:
    """Delete a document of a collection, its passages and its file."""
    document = await service.get_document(session, me, _document_id(document_id))
    back = f"/collections/{document.collection_id}?done=deleted" if document.collection_id else "/"
    await service.delete_document(session, _worker(request).store, me, document.id)
    return RedirectResponse(back, status_code=303)


@router.get("/documents/{document_id}/file")
async def original_file(
    document_id: str, request: Request, me: CurrentPrincipal, session: SessionDep
) -> Response:
    """The original file of a document I may read: PDF and text open in the browser
    (`#page=N` reaches a page of a PDF), other formats download."""
    document = await service.get_document(session, me, _document_id(document_id))
    path = _worker(request).store.path_of(document.sha256)
    if not path.exists():
        raise DocumentNotFound()
    inline = _INLINE.get(document.format)
    response = FileResponse(
        path,
        media_type=inline or "application/octet-stream",
        filename=document.name,
        content_disposition_type="inline" if inline else "attachment",
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@router.post(UPLOAD_PATH)
async def upload(request: Request, me: CurrentPrincipal, session: SessionDep) -> Response:
    """One file of a many-file upload (multipart `file` and `collection`), as JSON: the
    document and its state, or why it was refused, in the reader's language."""
    worker = _worker(request)
    limit = worker.settings.max_file_bytes
    try:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit + MULTIPART_SLACK:
            raise FileTooLarge(limit)
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise MissingFile()
        async with request.form(max_files=1, max_fields=8) as form:
            file, field = form.get("file"), form.get("collection")
            if not isinstance(file, UploadFile):
                raise MissingFile()
            if not isinstance(field, str):
                raise InvalidRequest(
                    "Say which collection the document goes to.", param="collection"
                )
            collection = await _collection(session, me, field.strip())
            spooled = await worker.store.spool(_read(file), limit)
            filename = file.filename or "document"
        done = await service.upload(
            session,
            worker.store,
            me,
            collection_id=collection.id,
            filename=filename,
            spooled=spooled,
        )
    except AutanError as exc:
        return JSONResponse(
            {"error": {"message": translate(request, exc), "code": exc.code}},
            status_code=STATUS_OF_KIND[exc.kind],
        )
    body = document_view(request, done.document) | {"known": not done.created}
    return JSONResponse(body, status_code=201 if done.created else 200)


async def _read(file: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await file.read(1024 * 1024):
        yield chunk
