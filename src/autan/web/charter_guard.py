"""Every signed-in page waits for the usage charter to be accepted.

`require_charter` is a FastAPI dependency for routers of HTML pages: a browser session
whose user has not accepted the current version of their organisation's charter is sent
(303) to `/charter`. API keys (`Authorization: Bearer`) are never affected.

It costs no database query per request: `autan.accounts.charter_gate.CharterGate` answers
from short caches that follow the event bus.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from starlette.exceptions import HTTPException

from autan.accounts.principal import Principal
from autan.deps import bearer_token, principal
from autan.services import services_of

CHARTER_PATH = "/charter"
# Pages a person may reach before accepting: the charter itself and signing out.
EXEMPT_PATHS = frozenset({CHARTER_PATH, "/logout"})


async def require_charter(request: Request, me: Annotated[Principal, Depends(principal)]) -> None:
    """Send a browser whose user has not accepted the charter to the charter page."""
    if bearer_token(request) is not None or request.url.path in EXEMPT_PATHS:
        return
    if await services_of(request).charter_gate.accepted(me):
        return
    target = CHARTER_PATH
    if request.method == "GET" and request.url.path != "/":
        target += "?next=" + quote(request.url.path, safe="/")
    # A 303 answers both a page load and an htmx request (which follows it and swaps).
    raise HTTPException(303, headers={"Location": target})
