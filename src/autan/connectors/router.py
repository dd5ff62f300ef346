"""Drive connections over JSON (`/api/drives`): connect, list, state, sync now, revoke.

Only people who manage a collection see or change its connection; any other id answers
"not found". The password is taken once and never returned.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from autan.accounts.principal import Principal
from autan.connectors import service
from autan.connectors.errors import DriveNotFound
from autan.connectors.schemas import (
    ConnectIn,
    FolderIn,
    ReconnectIn,
    connection_out,
    remote_out,
)
from autan.core.body import json_body, parse_body
from autan.deps import CurrentPrincipal, SessionDep, client_ip, principal
from autan.services import services_of
from autan.suitedocs.tokens import DOCS_TOKEN_COOKIE, unseal_with_end

router = APIRouter(prefix="/api/drives", tags=["Drives"], dependencies=[Depends(principal)])


def _id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise DriveNotFound() from None


def _subject(request: Request, me: Principal) -> service.SubjectToken:
    """The caller's ProConnect access token, kept encrypted in their browser at sign-in."""
    secret = services_of(request).settings.resolved_secret_key()
    cookie = request.cookies.get(DOCS_TOKEN_COOKIE)
    return service.subject_token(unseal_with_end(secret, cookie, me.user_id))


@router.post("", status_code=201, openapi_extra=json_body(ConnectIn))
async def connect(request: Request, me: CurrentPrincipal, session: SessionDep) -> dict[str, Any]:
    """Connect a WebDAV folder to a collection you manage; its first sync starts at once."""
    body = await parse_body(request, ConnectIn)
    drives = services_of(request).drives
    connection = await service.connect(
        session,
        drives.access,
        me,
        collection_id=body.collection_id,
        url=body.url,
        username=body.username,
        password=body.password.get_secret_value(),
        subject=_subject(request, me) if body.auth == "oidc" else None,
        shared_acknowledged=body.shared_acknowledged,
        paths=body.paths,
        ip=client_ip(request),
    )
    return connection_out(connection)


@router.post("/browse", openapi_extra=json_body(FolderIn))
async def browse(request: Request, me: CurrentPrincipal) -> dict[str, Any]:
    """The readable files of a folder, to pick some before connecting (nothing is stored)."""
    del me  # signed in is enough: nothing of Autan is read
    body = await parse_body(request, FolderIn)
    files = await service.browse(
        services_of(request).drives.access,
        url=body.url,
        username=body.username,
        password=body.password.get_secret_value(),
    )
    return {"object": "list", "data": [remote_out(f) for f in files]}


@router.get("")
async def list_connections(me: CurrentPrincipal, session: SessionDep) -> dict[str, Any]:
    """The connections of the collections you manage."""
    rows = await service.list_connections(session, me)
    return {"object": "list", "data": [connection_out(c) for c in rows]}


@router.get("/{drive_id}")
async def get_connection(
    drive_id: str, me: CurrentPrincipal, session: SessionDep
) -> dict[str, Any]:
    """A connection's state: last sync, counts, errors in plain words."""
    connection = await service.get_connection(session, me, _id(drive_id))
    return connection_out(connection, await service.failed_files(session, connection))


@router.post("/{drive_id}/sync", status_code=202)
async def sync_now(
    drive_id: str, request: Request, me: CurrentPrincipal, session: SessionDep
) -> dict[str, Any]:
    """Sync now ("Synchroniser maintenant")."""
    connection = await service.request_sync(session, me, _id(drive_id))
    return connection_out(connection)


@router.post("/{drive_id}/reconnect", openapi_extra=json_body(ReconnectIn))
async def reconnect(
    drive_id: str, request: Request, me: CurrentPrincipal, session: SessionDep
) -> dict[str, Any]:
    """New credentials for a connection (an OIDC one: your current ProConnect sign-in)."""
    body = await parse_body(request, ReconnectIn)
    connection = await service.get_connection(session, me, _id(drive_id))
    oidc = connection.auth_method == "oidc"
    connection = await service.reconnect(
        session,
        services_of(request).drives.access,
        me,
        connection.id,
        password=body.password.get_secret_value(),
        subject=_subject(request, me) if oidc else None,
        ip=client_ip(request),
    )
    return connection_out(connection)


@router.delete("/{drive_id}", status_code=204)
async def revoke(
    drive_id: str,
    request: Request,
    me: CurrentPrincipal,
    session: SessionDep,
    keep_documents: Annotated[bool, Query()] = True,
) -> Response:
    """Disconnect: the password is erased, syncs stop; documents kept unless asked otherwise."""
    store = services_of(request).documents.store
    await service.revoke(
        session, store, me, _id(drive_id), keep_documents=keep_documents, ip=client_ip(request)
    )
    return Response(status_code=204)
