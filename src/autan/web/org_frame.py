"""What the organisation administration pages share (not a router: routers import it)."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts import org_management, repository
from autan.accounts.models import Organisation, Role
from autan.accounts.permissions import OrganisationNotFound, require_org_manager
from autan.accounts.principal import Principal
from autan.accounts.web_access_form import web_access_context
from autan.budgets.models import WHOLE_ORG
from autan.budgets.service import alerts_of, load_budgets
from autan.llm.config import ModelType
from autan.llm.gateway import Gateway
from autan.retention import service as retention
from autan.services import services_of
from autan.web.pages import page_context, templates_of

BUDGET_ROLES = (WHOLE_ORG, Role.MEMBER.value, Role.REFERENT.value)
"""The budgets of the settings page: the organisation's, then one per role in it."""
MAX_BUDGET = 10**15


async def managed_org(session: AsyncSession, slug: str, me: Principal) -> Organisation:
    """The organisation of `slug`, if `me` manages it (else not found / forbidden)."""
    org = await repository.org_by_slug(session, slug)
    if org is None:
        raise OrganisationNotFound()
    require_org_manager(me, org.id)
    return org


async def budget_context(
    request: Request, session: AsyncSession, org: Organisation
) -> dict[str, Any]:
    """The organisation's budgets this month, and the alert its managers are shown (the
    highest threshold reached this month, 0 for none)."""
    budgets = services_of(request).quotas.budgets
    statuses = await budgets.status(org.id) if budgets is not None else []
    alert = await alerts_of(session, org.id) if statuses else 0
    return {"budgets": statuses, "budget_alert": alert}


async def render_admin_page(
    request: Request,
    name: str,
    me: Principal,
    csrf: str,
    session: AsyncSession,
    org: Organisation,
    context: dict[str, Any],
    status_code: int = 200,
) -> HTMLResponse:
    """An administration page of `org`, with the administration navigation."""
    base = await page_context(request, me, csrf, session)
    base |= {"managed": org, "section": name.split("/")[-1].removesuffix(".html")}
    base |= await budget_context(request, session, org)
    if me.role == Role.ADMIN:
        base["all_orgs"] = list(
            await session.scalars(select(Organisation).order_by(Organisation.name))
        )
    return templates_of(request).render(request, name, base | context, status_code=status_code)


async def settings_page(
    request: Request,
    me: Principal,
    csrf: str,
    session: AsyncSession,
    org: Organisation,
    *,
    form: dict[str, Any] | None = None,
    error: str = "",
    domain_conflict: bool = False,
    status_code: int = 200,
    extra: dict[str, Any] | None = None,
) -> HTMLResponse:
    """The organisation's settings page: domains, models, web search, retention, quotas."""
    gateway: Gateway = services_of(request).gateway
    models = [pool.config for pool in gateway.pools.values() if pool.config.type == ModelType.CHAT]
    rules = {rule.role: rule for rule in await org_management.quota_rules(session, org.id)}
    budgets = await load_budgets(session, org.id)
    context = {
        "models": models,
        "quota_rows": [(None, rules.get(None))]
        + [(role, rules.get(role)) for role in (Role.MEMBER, Role.REFERENT)],
        "saved": request.query_params.get("saved") == "1",
        "error": error,
        # What was typed, shown again when it was refused, instead of what is saved.
        "form": form,
        "domain_conflict": domain_conflict,
        "retention": await retention.rule_of(session, org.id),
        "budget_rows": [(role, budgets.get(role)) for role in BUDGET_ROLES],
        "max_budget": MAX_BUDGET,
    }
    platform = services_of(request).settings
    context |= web_access_context(org, platform.research, platform.quotas) | (extra or {})
    return await render_admin_page(
        request, "admin/settings.html", me, csrf, session, org, context, status_code
    )


async def settings_page_with(
    request: Request,
    me: Principal,
    csrf: str,
    session: AsyncSession,
    org: Organisation,
    extra: dict[str, Any],
    *,
    error: str,
) -> HTMLResponse:
    """The settings page refusing a form of another module (what was typed, in `extra`)."""
    return await settings_page(
        request, me, csrf, session, org, error=error, status_code=400, extra=extra
    )


# The confirmation step before cutting someone off (`accounts.confirm_pages`): the POST
# routes act only with `confirmed=CONFIRMED` and otherwise send the browser to these pages.
CONFIRMED = "yes"


def disable_url(slug: str, user_id: uuid.UUID, q: str = "") -> str:
    """The confirmation page before disabling a user (`q`: the users page's search)."""
    query = f"?{urlencode({'q': q})}" if q else ""
    return f"/admin/orgs/{slug}/users/{user_id}/disable{query}"


def revoke_url(slug: str, code_id: uuid.UUID) -> str:
    """The confirmation page before withdrawing an access code."""
    return f"/admin/orgs/{slug}/codes/{code_id}/revoke"
