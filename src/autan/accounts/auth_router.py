"""Sign-in and sign-out for browsers (JSON; the pages of the web UI post to these)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from autan.accounts import login
from autan.accounts.schemas import SessionOut
from autan.deps import (
    CurrentPrincipal,
    CurrentSession,
    ServicesDep,
    SessionDep,
    SettingsDep,
    client_ip,
    end_session,
    set_session_cookie,
)
from autan.suitedocs.tokens import DOCS_TOKEN_COOKIE

router = APIRouter(prefix="/auth", tags=["Sign-in"])


class PasswordLogin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


@router.post("/login")
async def password_login(
    body: PasswordLogin,
    request: Request,
    response: Response,
    session: SessionDep,
    services: ServicesDep,
) -> SessionOut:
    """Sign in with an email and a password; sets the session cookie."""
    signed = await services.sign_in.sign_in(session, body.email, body.password, client_ip(request))
    set_session_cookie(request, response, signed.cookie)
    return SessionOut(email=signed.user.email, role=signed.user.role, csrf_token=signed.data.csrf)


@router.get("/session")
async def current_session(principal: CurrentPrincipal, data: CurrentSession) -> SessionOut:
    """The signed-in user and the CSRF token of this session."""
    return SessionOut(email=principal.email, role=principal.role, csrf_token=data.csrf)


@router.post("/logout", status_code=204)
async def logout(
    _principal: CurrentPrincipal,
    data: CurrentSession,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
) -> None:
    """End this session (the cookie stops working everywhere, even if a copy was kept)."""
    await end_session(request, session, data)
    response.delete_cookie(settings.sessions.cookie_name, path="/")
    response.delete_cookie(DOCS_TOKEN_COOKIE, path="/")


@router.post("/logout-all", status_code=204)
async def logout_all(
    principal: CurrentPrincipal,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
) -> None:
    """End every session of mine, on every device."""
    await login.log_out_everywhere(session, principal)
    response.delete_cookie(settings.sessions.cookie_name, path="/")
    response.delete_cookie(DOCS_TOKEN_COOKIE, path="/")
