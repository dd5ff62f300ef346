"""The referent's form of retention rules and of energy shown under answers.

The form lives on the organisation's settings page (`web.org_frame.settings_page`); a referent
sets the rules of their own organisation only (`managed_org`), an admin of any.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from autan.accounts import audit
from autan.core.errors import InvalidRequest
from autan.core.params import Slug
from autan.deps import CurrentPrincipal, CurrentSession, SessionDep, principal
from autan.retention import service as retention
from autan.retention.service import MAX_DAYS
from autan.web import forms
from autan.web.errors import translate
from autan.web.org_frame import managed_org, settings_page_with

router = APIRouter(prefix="/admin", include_in_schema=False, dependencies=[Depends(principal)])


def _typed(form: FormData) -> dict[str, Any]:
    """What the referent typed, shown again when it is refused."""
    days = forms.typed(form, "conversation_days", "document_days", "usage_days", limit=20)
    return days | {"show_impacts": form.get("show_impacts") == "on"}


@router.post("/orgs/{slug}/retention")
async def update_retention(
    slug: Slug, request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> Response:
    """Save the retention periods and whether answers show their energy and CO2."""
    org = await managed_org(session, slug, me)
    form = await request.form()
    try:
        days = {
            name: forms.whole_number(form, name, 1, MAX_DAYS)
            for name in ("conversation_days", "document_days", "usage_days")
        }
    except InvalidRequest as exc:
        return await settings_page_with(
            request,
            me,
            data.csrf,
            session,
            org,
            {"retention_form": _typed(form)},
            error=translate(request, exc),
        )
    show = form.get("show_impacts") == "on"
    if show != org.show_impacts:
        org.show_impacts = show
        audit.record(
            session,
            audit.Action.ORG_UPDATED,
            actor_id=me.user_id,
            org_id=org.id,
            show_impacts=show,
        )
    await retention.set_rule(session, org.id, me.user_id, **days)
    return RedirectResponse(f"/admin/orgs/{org.slug}/settings?saved=1#retention", status_code=303)
