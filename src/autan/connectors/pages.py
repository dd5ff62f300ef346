"""The drive pages: connect a folder to a collection (all of it, or files picked), see its
sync state on the collection page, sync now, disconnect.

Each route parses, calls the same `connectors.service` function as `/api/drives`, renders.
A refused connection comes back as typed (address, user name, picked files).
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from autan.accounts.principal import Principal
from autan.connectors import service
from autan.connectors.errors import DriveNotFound
from autan.connectors.models import AuthMethod, DriveConnection, DriveStatus
from autan.connectors.webdav import RemoteFile
from autan.core.errors import AutanError
from autan.deps import CurrentPrincipal, CurrentSession, SessionDep, client_ip, principal
from autan.documents import service as documents
from autan.documents.errors import CollectionNotFound
from autan.documents.models import Collection, Visibility
from autan.documents.permissions import can_manage_collection
from autan.services import services_of
from autan.suitedocs.tokens import DOCS_TOKEN_COOKIE, unseal_with_end
from autan.web import forms
from autan.web.charter_guard import require_charter
from autan.web.errors import fill_in, translate
from autan.web.pages import render_page, templates_of
from autan.web.templating import request_language

router = APIRouter(
    include_in_schema=False, dependencies=[Depends(principal), Depends(require_charter)]
)


async def _collection(session: AsyncSession, me: Principal, value: str) -> Collection:
    try:
        collection_id = uuid.UUID(value)
    except ValueError:
        raise CollectionNotFound() from None
    return await documents.managed_collection(session, me, collection_id)


def _drive_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise DriveNotFound() from None


def _subject(request: Request, me: Principal) -> tuple[str, float] | None:
    """The caller's ProConnect token from their sign-in cookie, if any."""
    secret = services_of(request).settings.resolved_secret_key()
    return unseal_with_end(secret, request.cookies.get(DOCS_TOKEN_COOKIE), me.user_id)


def _typed(raw: FormData | None) -> dict[str, Any]:
    if raw is None:
        return {"url": "", "username": "", "password": "", "paths": [], "shared": False}
    return {
        "url": str(raw.get("url", ""))[:2000].strip(),
        "username": str(raw.get("username", ""))[:320].strip(),
        "password": str(raw.get("password", ""))[:1000],
        "paths": [str(p)[:2000] for p in raw.getlist("paths")][:5000],
        "shared": raw.get("shared_acknowledged") == "1",
    }


async def _form_page(
    request: Request,
    me: Principal,
    csrf: str,
    session: AsyncSession,
    collection: Collection,
    typed: dict[str, Any],
    *,
    files: list[RemoteFile] | None = None,
    error: AutanError | None = None,
) -> HTMLResponse:
    context = {
        "collection": collection,
        "shared": collection.visibility != Visibility.PRIVATE,
        "form": typed,
        "files": files,
        "error": translate(request, error) if error else "",
        "error_field": error.param if error else "",
        # The Suite's drive without a password: offered to people signed in with ProConnect.
        "proconnect": services_of(request).drives.access.exchange.enabled
        and _subject(request, me) is not None,
    }
    status = 400 if error else 200
    return await render_page(
        request, "drives/connect.html", me, csrf, session, context, status_code=status
    )


@router.get("/collections/{collection_id}/drive")
async def connect_page(
    collection_id: str,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
) -> Response:
    """Connect a drive folder to this collection (or see its connection)."""
    collection = await _collection(session, me, collection_id)
    existing = await service.of_collection(session, me, collection.id)
    if existing is not None:
        return RedirectResponse(f"/collections/{collection.id}", status_code=303)
    return await _form_page(request, me, data.csrf, session, collection, _typed(None))


@router.post("/collections/{collection_id}/drive")
async def connect(
    collection_id: str,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
) -> Response:
    """List the folder's files to pick some ("browse"), or connect it."""
    collection = await _collection(session, me, collection_id)
    raw = await request.form()
    typed = _typed(raw)
    drives = services_of(request).drives
    try:
        if raw.get("action") == "oidc":
            if not typed["url"]:
                raise forms.FormError("Give the folder's address.", "url")
            await service.connect(
                session,
                drives.access,
                me,
                collection_id=collection.id,
                url=typed["url"],
                subject=service.subject_token(_subject(request, me)),
                shared_acknowledged=typed["shared"],
                ip=client_ip(request),
            )
            return RedirectResponse(f"/collections/{collection.id}?done=drive", status_code=303)
        if not typed["url"] or not typed["username"] or not typed["password"]:
            raise forms.FormError(
                "Give the folder's address, your user name and an app password.", "url"
            )
        if raw.get("action") == "browse":
            files = await service.browse(
                drives.access,
                url=typed["url"],
                username=typed["username"],
                password=typed["password"],
            )
            return await _form_page(request, me, data.csrf, session, collection, typed, files=files)
        await service.connect(
            session,
            drives.access,
            me,
            collection_id=collection.id,
            url=typed["url"],
            username=typed["username"],
            password=typed["password"],
            shared_acknowledged=typed["shared"],
            paths=typed["paths"] or None,
            ip=client_ip(request),
        )
    except AutanError as exc:
        # Refused before anything was written: the session still holds the collection.
        return await _form_page(request, me, data.csrf, session, collection, typed, error=exc)
    return RedirectResponse(f"/collections/{collection.id}?done=drive", status_code=303)


def drive_view(request: Request, connection: DriveConnection, manage: bool) -> dict[str, Any]:
    """A connection as the collection page shows it (the address only to its managers)."""
    templates, lang = templates_of(request), request_language(request)
    error = ""
    if connection.last_error_template:
        error = fill_in(
            templates, lang, connection.last_error_template, connection.last_error_values or {}
        )
    return {
        "id": connection.id,
        "url": connection.url if manage else "",
        "username": connection.username if manage else "",
        "picked": len(connection.paths or []),
        "syncing": connection.running_since is not None or connection.sync_requested,
        "last_sync_at": connection.last_sync_at,
        "outcome": connection.last_outcome,
        "error": error,
        "seen": connection.files_seen,
        "added": connection.files_added,
        "updated": connection.files_updated,
        "removed": connection.files_removed,
        "failed": connection.files_failed,
        "expired": connection.status == DriveStatus.EXPIRED,
        "proconnect": connection.auth_method == AuthMethod.OIDC,
    }


@router.get("/collections/{collection_id}/drive/state")
async def state_fragment(
    collection_id: str,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
) -> HTMLResponse:
    """The sync state shown on the collection page (polled while a sync runs)."""
    try:
        cid = uuid.UUID(collection_id)
    except ValueError:
        raise CollectionNotFound() from None
    collection = await documents.get_collection(session, me, cid)
    manage = can_manage_collection(me, collection)
    connection = await service.of_collection(session, me, collection.id)
    failed = []
    if connection is not None and manage:
        templates, lang = templates_of(request), request_language(request)
        failed = [
            {
                "path": f.path,
                "error": fill_in(templates, lang, f.error_template or "", f.error_values or {}),
            }
            for f in await service.failed_files(session, connection)
        ]
    context = {
        "collection": collection,
        "manage": manage,
        "drive": drive_view(request, connection, manage) if connection else None,
        "failed_files": failed,
        "csrf_token": data.csrf,
    }
    return templates_of(request).render(request, "drives/_state.html", context)


@router.post("/drives/{drive_id}/sync")
async def sync_now(
    drive_id: str, request: Request, me: CurrentPrincipal, session: SessionDep
) -> RedirectResponse:
    """Sync now ("Synchroniser maintenant")."""
    connection = await service.request_sync(session, me, _drive_id(drive_id))
    return RedirectResponse(f"/collections/{connection.collection_id}?done=sync", status_code=303)


@router.post("/drives/{drive_id}/reconnect")
async def reconnect(
    drive_id: str, request: Request, me: CurrentPrincipal, session: SessionDep
) -> RedirectResponse:
    """Reconnect a folder connected with ProConnect, with the caller's current sign-in."""
    connection = await service.reconnect(
        session,
        services_of(request).drives.access,
        me,
        _drive_id(drive_id),
        subject=service.subject_token(_subject(request, me)),
        ip=client_ip(request),
    )
    return RedirectResponse(f"/collections/{connection.collection_id}?done=sync", status_code=303)


@router.get("/drives/{drive_id}/revoke")
async def revoke_page(
    drive_id: str,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
) -> HTMLResponse:
    """Ask before disconnecting: keep the folder's documents, or delete them."""
    connection = await service.get_connection(session, me, _drive_id(drive_id))
    collection = await documents.get_collection(session, me, connection.collection_id)
    context = {"drive": connection, "collection": collection}
    return await render_page(request, "drives/revoke.html", me, data.csrf, session, context)


@router.post("/drives/{drive_id}/revoke")
async def revoke(
    drive_id: str, request: Request, me: CurrentPrincipal, session: SessionDep
) -> RedirectResponse:
    """Disconnect: the password is erased, syncs stop; documents kept or deleted."""
    raw = await request.form()
    connection = await service.get_connection(session, me, _drive_id(drive_id))
    collection_id = connection.collection_id
    await service.revoke(
        session,
        services_of(request).documents.store,
        me,
        connection.id,
        keep_documents=raw.get("documents") != "delete",
        ip=client_ip(request),
    )
    return RedirectResponse(f"/collections/{collection_id}?done=revoked", status_code=303)
