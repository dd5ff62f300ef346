"""Sign-in and sign-out for browsers (JSON; the pages of the web UI post to these)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from autan.accounts import login
from autan.accounts.errors import LoginFailed
from autan.accounts.sessions import SessionCodec
from autan.accounts.throttle import LoginThrottle
from autan.core.errors import Forbidden
from autan.deps import (
    CurrentPrincipal,
    CurrentSession,
    SessionDep,
    SettingsDep,
    end_session,
    set_session_cookie,
)
from autan.services import services_of

router = APIRouter(prefix="/auth", tags=["Sign-in"])


class PasswordLogin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class SessionOut(BaseModel):
    email: str
    role: str
    csrf_token: str = Field(description="Send it as `X-CSRF-Token` on state-changing requests.")


class LocalLoginDisabled(Forbidden):
    code = "local_login_disabled"

    def __init__(self) -> None:
        super().__init__("Sign-in with a password is disabled here. Use your organisation's login.")


def client_ip(request: Request) -> str | None:
    """The caller's address, for throttling and the audit log.

    It is the connection's peer unless uvicorn replaced it with X-Forwarded-For, which it
    does only for the proxies of `forwarded_allow_ips` (`cli.proxy_options`).
    """
    return request.client.host if request.client else None


@router.post("/login")
async def password_login(
    body: PasswordLogin,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
) -> SessionOut:
    """Sign in with an email and a password; sets the session cookie."""
    if not settings.sessions.local_login_enabled:
        raise LocalLoginDisabled()
    ip = client_ip(request)
    throttle: LoginThrottle = services_of(request).login_throttle
    await throttle.check(body.email, ip)
    try:
        user = await login.check_password(session, body.email, body.password, ip=ip)
    except LoginFailed:
        await throttle.failed(body.email, ip)
        raise
    await throttle.succeeded(body.email, ip)
    codec: SessionCodec = services_of(request).session_codec
    cookie, data = codec.issue(user.id, user.session_epoch)
    set_session_cookie(request, response, cookie)
    return SessionOut(email=user.email, role=user.role, csrf_token=data.csrf)


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
