"""What the organisation administration pages share (not a router: routers import it)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts import repository
from autan.accounts.models import Organisation, Role
from autan.accounts.permissions import OrganisationNotFound, require_org_manager
from autan.accounts.principal import Principal
from autan.web.pages import page_context, templates_of


async def managed_org(session: AsyncSession, slug: str, me: Principal) -> Organisation:
    """The organisation of `slug`, if `me` manages it (else not found / forbidden)."""
    org = await repository.org_by_slug(session, slug)
    if org is None:
        raise OrganisationNotFound()
    require_org_manager(me, org.id)
    return org


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
    if me.role == Role.ADMIN:
        base["all_orgs"] = list(
            await session.scalars(select(Organisation).order_by(Organisation.name))
        )
    return templates_of(request).render(request, name, base | context, status_code=status_code)
