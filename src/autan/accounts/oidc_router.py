"""Sign-in through the organisation's OIDC provider (ProConnect), first-login access codes,
and RP-initiated logout."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from autan.accounts import onboarding
from autan.accounts.oidc import OidcClient, PendingLogin
from autan.accounts.oidc_flow import (
    ID_TOKEN_COOKIE,
    LOGIN_COOKIE,
    PENDING_COOKIE,
    PENDING_MAX_AGE,
    identity_cookie,
    oidc_client,
    read_auth_cookie,
    redeem_pending,
    set_auth_cookie,
    signer,
    start_session,
)
from autan.accounts.schemas import SessionOut
from autan.deps import SessionDep, SettingsDep, client_ip
from autan.services import services_of
from autan.suitedocs.tokens import DOCS_TOKEN_COOKIE

router = APIRouter(prefix="/auth/oidc", tags=["Sign-in"])


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=4, max_length=64)


@router.get("/login")
async def oidc_login(request: Request) -> RedirectResponse:
    """Send the browser to the identity provider."""
    client = oidc_client(request)
    started = await client.begin(str(request.url_for("oidc_callback")))
    response = RedirectResponse(started.url, status_code=303)
    value = signer(request, "oidc-login").dumps(started.pending.as_session())
    set_auth_cookie(request, response, LOGIN_COOKIE, value, 600)
    return response


@router.get("/callback", name="oidc_callback")
async def oidc_callback(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """The provider sends the browser back here; sign in, or ask a newcomer for a code."""
    client = oidc_client(request)
    pending = PendingLogin.from_session(read_auth_cookie(request, LOGIN_COOKIE, "oidc-login", 600))
    identity = await client.finish(
        str(request.url_for("oidc_callback")), dict(request.query_params), pending
    )
    user = await onboarding.sign_in(session, identity, ip=client_ip(request))
    response = RedirectResponse("/" if user else "/auth/welcome", status_code=303)
    response.delete_cookie(LOGIN_COOKIE, path="/auth")
    if user is None:
        value = signer(request, "newcomer").dumps(identity_cookie(identity))
        set_auth_cookie(request, response, PENDING_COOKIE, value, PENDING_MAX_AGE)
    else:
        access = (
            (identity.access_token, identity.access_expires_in) if identity.access_token else None
        )
        start_session(request, response, user, identity.id_token, access)
    return response


@router.post("/redeem")
async def redeem_code(
    body: CodeIn, request: Request, response: Response, session: SessionDep
) -> SessionOut:
    """A newcomer verified by the provider joins the organisation of their access code.

    A refused code leaves the pending sign-in in place, so the user can try another code.
    """
    return await redeem_pending(request, response, session, body.code)


@router.get("/logout")
async def oidc_logout(request: Request) -> RedirectResponse:
    """End the session here and at the provider (RP-initiated logout)."""
    settings = services_of(request).settings
    target = "/"
    id_token = read_auth_cookie(request, ID_TOKEN_COOKIE, "idt", 365 * 24 * 3600)
    client: OidcClient | None = services_of(request).oidc
    if client is not None and isinstance(id_token, str):
        back = str(request.base_url).rstrip("/") + settings.oidc.post_logout_redirect_path
        target = await client.logout_url(id_token, back, "logout") or "/"
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(settings.sessions.cookie_name, path="/")
    response.delete_cookie(ID_TOKEN_COOKIE, path="/auth")
    response.delete_cookie(DOCS_TOKEN_COOKIE, path="/")
    return response
