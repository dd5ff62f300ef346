"""What the signed-in pages of every feature share (not a router: routers import it)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts.models import Organisation, Role
from autan.accounts.principal import Principal
from autan.llm.config import ModelType
from autan.services import services_of
from autan.web.templating import Templates


def templates_of(request: Request) -> Templates:
    """The application's templates (one `Templates`, built in the lifespan)."""
    return services_of(request).templates


async def page_context(
    request: Request, principal: Principal, csrf: str, session: AsyncSession
) -> dict[str, Any]:
    """What every signed-in page shows: who is signed in, their organisation, the token."""
    org = await session.get(Organisation, principal.org_id)
    return {
        "me": principal,
        "org": org,
        "csrf_token": csrf,
        "manager": principal.role in (Role.ADMIN, Role.REFERENT),
    }


async def render_page(
    request: Request,
    name: str,
    me: Principal,
    csrf: str,
    session: AsyncSession,
    context: dict[str, Any],
    status_code: int = 200,
) -> HTMLResponse:
    """A signed-in page: the shared context (`page_context`) and the page's own."""
    base = await page_context(request, me, csrf, session)
    return templates_of(request).render(request, name, base | context, status_code=status_code)


async def usable_models(request: Request, me: Principal) -> list[dict[str, Any]]:
    """The chat models of the deployment that the caller's organisation allows."""
    pools = await services_of(request).model_access.allowed(me, ModelType.CHAT)
    return [
        {
            "id": pool.model_id,
            "name": pool.config.display_name or pool.model_id,
            "description": pool.config.description,
            "context_length": pool.config.context_length,
        }
        for pool in pools
    ]
