"""The usage charter's page: read one's organisation's charter, accept it, go on.

Signed-in only (router-level dependency, deny by default); `require_charter` lets
`/charter` itself through, so that a person who has not accepted it can.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts import charter
from autan.accounts.principal import Principal
from autan.deps import CurrentPrincipal, CurrentSession, SessionDep, client_ip, principal
from autan.web import forms
from autan.web.charter_guard import require_charter
from autan.web.errors import translate
from autan.web.pages import render_page
from autan.web.templating import request_language

router = APIRouter(
    include_in_schema=False, dependencies=[Depends(principal), Depends(require_charter)]
)


def _next_path(value: str) -> str:
    """Only a path of this site, so that the charter page cannot send anyone elsewhere."""
    ok = value.startswith("/") and not value.startswith(("//", "/\\")) and value != "/charter"
    return value if ok else "/"


async def _charter_page(
    request: Request,
    me: Principal,
    csrf: str,
    session: AsyncSession,
    next_path: str,
    *,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    view = await charter.charter_for(session, me, request_language(request))
    context = {"charter": view, "next": next_path, "error": error}
    return await render_page(request, "charter.html", me, csrf, session, context, status_code)


@router.get("/charter")
async def charter_page(
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
    next: Annotated[str, Query(max_length=500)] = "/",
) -> HTMLResponse:
    """The usage charter of one's organisation, to accept (or to read again)."""
    return await _charter_page(request, me, data.csrf, session, _next_path(next))


@router.post("/charter")
async def accept_charter(
    request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> Response:
    """Record the acceptance of the version read, then go where the person was going."""
    form = await request.form()
    next_path = _next_path(str(form.get("next", "/"))[:500])
    try:
        version = forms.whole_number(form, "version", 1, 2**31 - 1)
        if form.get("accept") != "on":
            raise forms.FormError("Tick the box to accept the charter.", "accept")
        if version is None or not await charter.accept(session, me, version, client_ip(request)):
            raise forms.FormError(
                "The charter has just changed. Please read the new version.", "accept"
            )
    except forms.FormError as exc:
        error = translate(request, exc)
        return await _charter_page(
            request, me, data.csrf, session, next_path, error=error, status_code=400
        )
    return RedirectResponse(next_path, status_code=303)
