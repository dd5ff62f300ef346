"""The form of an organisation's monthly budgets, on its settings page.

An admin sets any budget; a referent sets the role budgets of their own organisation
(`managed_org`), each within the organisation's budget, which only an admin sets.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from autan.budgets import service as budgets
from autan.core.errors import InvalidRequest
from autan.core.params import Slug
from autan.deps import CurrentPrincipal, CurrentSession, SessionDep, principal
from autan.web import forms
from autan.web.errors import translate
from autan.web.org_frame import BUDGET_ROLES, MAX_BUDGET, managed_org, settings_page_with

router = APIRouter(prefix="/admin", include_in_schema=False, dependencies=[Depends(principal)])


@router.post("/orgs/{slug}/budgets")
async def update_budget(
    slug: Slug, request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> Response:
    """Set or remove (empty) one monthly budget of the organisation."""
    org = await managed_org(session, slug, me)
    form = await request.form()
    role = forms.text(form, "role", 16)
    typed = {"role": role} | forms.typed(form, "tokens_per_month", limit=20)
    try:
        if role not in BUDGET_ROLES:
            raise forms.FormError("Choose a role from the list.", "role")
        value = forms.whole_number(form, "tokens_per_month", 1, MAX_BUDGET)
        budgets.check_change(me, await budgets.load_budgets(session, org.id), role, value)
    except InvalidRequest as exc:
        return await settings_page_with(
            request,
            me,
            data.csrf,
            session,
            org,
            {"budget_form": typed},
            error=translate(request, exc),
        )
    await budgets.set_budget(session, org.id, role, value, me)
    return RedirectResponse(f"/admin/orgs/{org.slug}/settings?saved=1#budgets", status_code=303)
