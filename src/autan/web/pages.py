"""What the signed-in pages of every feature share (not a router: routers import it)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts.models import Organisation, Role
from autan.accounts.principal import Principal


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
