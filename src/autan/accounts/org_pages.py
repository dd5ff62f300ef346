"""Administration pages for AI referents (their organisation) and admins (any organisation).

Every page goes through `permissions.require_org_manager`: another organisation is "not
found", a member is refused. Changes go through the services of `accounts.org_management` and
`accounts.codes`, which write the audit log.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from autan.accounts import codes, org_management
from autan.accounts.domains import DomainError, DomainTaken
from autan.accounts.models import Organisation, Role
from autan.accounts.principal import Principal
from autan.accounts.schemas import OrgPatch
from autan.accounts.web_access_form import typed_web_access, web_access_changes
from autan.core.error_handlers import STATUS_OF_KIND
from autan.core.errors import AutanError, InvalidRequest
from autan.core.params import Offset, Slug
from autan.deps import CurrentPrincipal, CurrentSession, SessionDep, principal
from autan.quotas.policy import QuotaSettings
from autan.research.settings import ResearchSettings
from autan.services import services_of
from autan.web import forms, org_frame
from autan.web.errors import fill_in, translate
from autan.web.org_frame import managed_org, render_admin_page
from autan.web.org_frame import settings_page as _settings_page
from autan.web.templating import Templates, request_language

router = APIRouter(prefix="/admin", include_in_schema=False, dependencies=[Depends(principal)])

_PAGE_SIZE = 50
_ROLES = [r.value for r in Role]


@router.get("")
async def admin_home(
    me: CurrentPrincipal, session: SessionDep, org: Annotated[str, Query(max_length=64)] = ""
) -> RedirectResponse:
    """The organisation picker's target: that organisation's users (one's own by default)."""
    if not org:
        own = await session.get(Organisation, me.org_id)
        assert own is not None
        org = own.slug
    managed = await managed_org(session, org, me)
    return RedirectResponse(f"/admin/orgs/{managed.slug}/users", status_code=303)


# -- Users ----------------------------------------------------------------------------------


async def _users_page(
    request: Request,
    me: Principal,
    csrf: str,
    session: AsyncSession,
    org: Organisation,
    q: str,
    offset: int,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    users = await org_management.find_users(session, org.id, q, _PAGE_SIZE + 1, offset)
    context = {
        "users": users[:_PAGE_SIZE],
        "q": q,
        "offset": offset,
        "more": len(users) > _PAGE_SIZE,
        "page_size": _PAGE_SIZE,
        "roles": _ROLES,
        "error": error,
    }
    return await render_admin_page(
        request, "admin/users.html", me, csrf, session, org, context, status_code
    )


@router.get("/orgs/{slug}/users")
async def users_page(
    slug: Slug,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
    q: Annotated[str, Query(max_length=200)] = "",
    offset: Offset = 0,
) -> HTMLResponse:
    """Search the organisation's users; change their role, disable or enable them."""
    org = await managed_org(session, slug, me)
    return await _users_page(request, me, data.csrf, session, org, q, offset)


@router.post("/orgs/{slug}/users/{user_id}")
async def update_user(
    slug: Slug,
    user_id: uuid.UUID,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
) -> Response:
    org = await managed_org(session, slug, me)
    form = await request.form()
    q = str(form.get("q", ""))[:200]
    try:
        role_text = forms.text(form, "role", 16)
        active_text = forms.text(form, "is_active", 5)
        if role_text and role_text not in _ROLES:
            raise forms.FormError("Choose a role from the list.", "role")
        if active_text not in ("", "true", "false"):
            raise forms.FormError("This field is not valid.", "is_active")
        if active_text == "false" and form.get("confirmed") != org_frame.CONFIRMED:
            return RedirectResponse(org_frame.disable_url(org.slug, user_id, q), 303)
        await org_management.update_user(
            session,
            org.id,
            user_id,
            me,
            role=Role(role_text) if role_text else None,
            is_active=None if not active_text else active_text == "true",
        )
    except (
        InvalidRequest,
        org_management.CannotChangeSelf,
        org_management.AdminRoleReserved,
    ) as exc:
        error = translate(request, exc)
        return await _users_page(request, me, data.csrf, session, org, q, 0, error, 400)
    query = f"?{urlencode({'q': q})}" if q else ""
    return RedirectResponse(f"/admin/orgs/{org.slug}/users{query}", status_code=303)


# -- Access codes ---------------------------------------------------------------------------


async def _codes_page(
    request: Request,
    me: Principal,
    csrf: str,
    session: AsyncSession,
    org: Organisation,
    *,
    form: dict[str, str] | None = None,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    secret = services_of(request).settings.resolved_secret_key()
    rows = await codes.list_codes(session, org.id)
    context = {
        "codes": [(row, codes.visible_code(secret, row, me)) for row in rows],
        "form": form or {"uses": "1", "days": "30", "role": "member"},
        "roles": [role.value for role in codes.grantable_roles(me.role)],
        "error": error,
    }
    return await render_admin_page(
        request, "admin/codes.html", me, csrf, session, org, context, status_code
    )


@router.get("/orgs/{slug}/codes")
async def codes_page(
    slug: Slug, request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> HTMLResponse:
    """The organisation's access codes."""
    org = await managed_org(session, slug, me)
    return await _codes_page(request, me, data.csrf, session, org)


@router.post("/orgs/{slug}/codes")
async def create_code(
    slug: Slug, request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> Response:
    org = await managed_org(session, slug, me)
    form = await request.form()
    try:
        label = forms.text(form, "label", 200)
        uses = forms.whole_number(form, "uses", 1, 100_000)
        days = forms.whole_number(form, "days", 1, 3650)
        role = forms.text(form, "role", 16) or Role.MEMBER.value
        if role not in _ROLES:
            raise forms.FormError("Choose a role from the list.", "role")
        await codes.create_code(
            session,
            services_of(request).settings.resolved_secret_key(),
            org=org,
            creator=me,
            label=label,
            max_uses=uses,
            valid_days=days,
            role=Role(role),
        )
    except (InvalidRequest, codes.CodeRoleTooHigh) as exc:
        return await _codes_page(
            request,
            me,
            data.csrf,
            session,
            org,
            form=forms.typed(form, "label", "uses", "days", "role"),
            error=translate(request, exc),
            status_code=400,
        )
    return RedirectResponse(f"/admin/orgs/{org.slug}/codes", status_code=303)


@router.post("/orgs/{slug}/codes/{code_id}/revoke")
async def revoke_code(
    slug: Slug, code_id: uuid.UUID, request: Request, me: CurrentPrincipal, session: SessionDep
) -> RedirectResponse:
    org = await managed_org(session, slug, me)
    if (await request.form()).get("confirmed") != org_frame.CONFIRMED:
        return RedirectResponse(org_frame.revoke_url(org.slug, code_id), 303)
    await codes.revoke_code(session, org.id, code_id, me)
    return RedirectResponse(f"/admin/orgs/{org.slug}/codes", status_code=303)


# -- Settings and quotas --------------------------------------------------------------------


@router.get("/orgs/{slug}/settings")
async def settings_page(
    slug: Slug, request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> HTMLResponse:
    """The organisation's settings: email domains, models, web search, quotas."""
    org = await managed_org(session, slug, me)
    return await _settings_page(request, me, data.csrf, session, org)


def _typed_settings(form: FormData) -> dict[str, Any]:
    return {
        "domains": str(form.get("domains", ""))[:10_000],
        "models": [m for m in form.getlist("models") if isinstance(m, str)],
        "all_models": form.get("all_models") == "on",
        **typed_web_access(form),
    }


def _org_changes(
    form: FormData, research: ResearchSettings, quotas: QuotaSettings
) -> dict[str, Any]:
    domains_text = forms.text(form, "domains", 10_000)
    domains = [d.strip() for d in domains_text.replace(",", "\n").splitlines() if d.strip()]
    models = [m for m in form.getlist("models") if isinstance(m, str)]
    all_models = form.get("all_models") == "on"
    try:
        patch = OrgPatch(
            allowed_domains=domains,
            allowed_models=None if all_models else models,
        )
    except ValidationError:
        raise forms.FormError(
            "Check the email domains: one per line, 3 to 253 characters, 100 at most.",
            "domains",
        ) from None
    changes = patch.model_dump(include={"allowed_domains", "allowed_models"})
    return changes | web_access_changes(form, research, quotas)


def _settings_error(request: Request, exc: AutanError) -> str:
    """The message of a refused settings form; domain errors name the domain."""
    if isinstance(exc, DomainError):
        templates: Templates = services_of(request).templates
        return fill_in(templates, request_language(request), exc.template, exc.values)
    return translate(request, exc)


@router.post("/orgs/{slug}/settings")
async def update_settings(
    slug: Slug, request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> Response:
    org = await managed_org(session, slug, me)
    form = await request.form()
    try:
        platform = services_of(request).settings
        changes = _org_changes(form, platform.research, platform.quotas)
        move = me.role == Role.ADMIN and form.get("move_domains") == "on"
        await org_management.update_org(session, org, changes, me, move_domains=move)
    except (InvalidRequest, DomainTaken) as exc:
        # Nothing was saved; the organisation is read again for the page.
        await session.rollback()
        org = await managed_org(session, slug, me)
        return await _settings_page(
            request,
            me,
            data.csrf,
            session,
            org,
            form=_typed_settings(form),
            error=_settings_error(request, exc),
            domain_conflict=isinstance(exc, DomainTaken),
            status_code=STATUS_OF_KIND[exc.kind],
        )
    return RedirectResponse(f"/admin/orgs/{org.slug}/settings?saved=1", status_code=303)


@router.post("/orgs/{slug}/quotas")
async def update_quota(
    slug: Slug, request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> Response:
    org = await managed_org(session, slug, me)
    form = await request.form()
    try:
        role_text = forms.text(form, "role", 16)
        if role_text and role_text not in _ROLES:
            raise forms.FormError("Choose a role from the list.", "role")
        per_minute = forms.whole_number(form, "requests_per_minute", 0, 1_000_000)
        per_day = forms.whole_number(form, "tokens_per_day", 0, 10_000_000_000)
        role = Role(role_text) if role_text else None
        await org_management.set_quota(session, org, role, per_minute, per_day, me)
    except InvalidRequest as exc:
        error = translate(request, exc)
        return await _settings_page(
            request, me, data.csrf, session, org, error=error, status_code=400
        )
    return RedirectResponse(f"/admin/orgs/{org.slug}/settings?saved=1", status_code=303)


# The audit log's page lives in `accounts.audit_pages` (filters, names, CSV export).
