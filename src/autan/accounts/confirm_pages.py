"""Confirmation pages before the actions that cut someone off: disabling an account and
withdrawing an access code.

A plain page with a form, so it works without JavaScript and reads well with a screen
reader; the POST routes of `accounts.org_pages` refuse to act without `confirmed=yes` and send
the browser here instead.
"""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from autan.accounts import codes, org_management
from autan.core.params import Slug
from autan.deps import CurrentPrincipal, CurrentSession, SessionDep, principal
from autan.web.org_frame import CONFIRMED, managed_org, render_admin_page

router = APIRouter(prefix="/admin", include_in_schema=False, dependencies=[Depends(principal)])


@router.get("/orgs/{slug}/users/{user_id}/disable")
async def confirm_disable(
    slug: Slug,
    user_id: uuid.UUID,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
    q: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    """Ask before disabling an account, naming the person."""
    org = await managed_org(session, slug, me)
    user = await org_management.user_in_org(session, org.id, user_id)
    back = f"/admin/orgs/{org.slug}/users" + (f"?{urlencode({'q': q})}" if q else "")
    context = {
        "section": "users",
        "kind": "disable",
        "who": user.display_name or user.email,
        "email": user.email,
        "action": f"/admin/orgs/{org.slug}/users/{user.id}",
        "fields": {"is_active": "false", "q": q, "confirmed": CONFIRMED},
        "back": back,
    }
    return await render_admin_page(
        request, "admin/confirm.html", me, data.csrf, session, org, context
    )


@router.get("/orgs/{slug}/codes/{code_id}/revoke")
async def confirm_revoke(
    slug: Slug,
    code_id: uuid.UUID,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
) -> HTMLResponse:
    """Ask before withdrawing an access code, naming it."""
    org = await managed_org(session, slug, me)
    row = await codes.code_in_org(session, org.id, code_id)
    context = {
        "section": "codes",
        "kind": "revoke",
        "who": row.label,
        "uses": row.uses,
        "action": f"/admin/orgs/{org.slug}/codes/{row.id}/revoke",
        "fields": {"confirmed": CONFIRMED},
        "back": f"/admin/orgs/{org.slug}/codes",
    }
    return await render_admin_page(
        request, "admin/confirm.html", me, data.csrf, session, org, context
    )
