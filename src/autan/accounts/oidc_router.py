"""Sign-in through the organisation's OIDC provider (ProConnect), first-login access codes,
and RP-initiated logout."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts import onboarding
from autan.accounts.errors import PendingSignInMissing
from autan.accounts.models import User
from autan.accounts.oidc import OidcClient, OidcIdentity, PendingLogin
from autan.accounts.schemas import SessionOut
from autan.accounts.sessions import SessionCodec
from autan.core.cookies import set_private_cookie
from autan.core.errors import NotFound
from autan.deps import SessionDep, SettingsDep, client_ip, set_session_cookie
from autan.services import services_of

router = APIRouter(prefix="/auth/oidc", tags=["Sign-in"])

_LOGIN_COOKIE = "autan_oidc"  # state, nonce and PKCE verifier between login and callback
_PENDING_COOKIE = "autan_newcomer"  # a verified identity waiting for an access code
_ID_TOKEN_COOKIE = "autan_idt"  # the ID token, for the provider's logout
_PENDING_MAX_AGE = 900


class OidcDisabled(NotFound):
    code = "oidc_disabled"

    def __init__(self) -> None:
        super().__init__("Sign-in through an identity provider is not enabled here.")


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=4, max_length=64)


def _oidc(request: Request) -> OidcClient:
    client: OidcClient | None = services_of(request).oidc
    if client is None:
        raise OidcDisabled()
    return client


def _signer(request: Request, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(services_of(request).settings.resolved_secret_key(), salt=purpose)


def _set(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    secure = services_of(request).settings.sessions.cookie_secure
    set_private_cookie(request, response, name, value, max_age=max_age, secure=secure, path="/auth")


def _read(request: Request, name: str, purpose: str, max_age: int) -> Any:
    value = request.cookies.get(name)
    if not value:
        return None
    try:
        return _signer(request, purpose).loads(value, max_age=max_age)
    except BadSignature:
        return None


def _start_session(request: Request, response: Response, user: User, id_token: str) -> SessionOut:
    codec: SessionCodec = services_of(request).session_codec
    cookie, data = codec.issue(user.id, user.session_epoch)
    set_session_cookie(request, response, cookie)
    hours = services_of(request).settings.sessions.absolute_timeout_hours
    _set(request, response, _ID_TOKEN_COOKIE, _signer(request, "idt").dumps(id_token), hours * 3600)
    response.delete_cookie(_PENDING_COOKIE, path="/auth")
    return SessionOut(email=user.email, role=user.role, csrf_token=data.csrf)


@router.get("/login")
async def oidc_login(request: Request) -> RedirectResponse:
    """Send the browser to the identity provider."""
    client = _oidc(request)
    started = await client.begin(str(request.url_for("oidc_callback")))
    response = RedirectResponse(started.url, status_code=303)
    value = _signer(request, "oidc-login").dumps(started.pending.as_session())
    _set(request, response, _LOGIN_COOKIE, value, 600)
    return response


@router.get("/callback", name="oidc_callback")
async def oidc_callback(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """The provider sends the browser back here; sign in, or ask a newcomer for a code."""
    client = _oidc(request)
    pending = PendingLogin.from_session(_read(request, _LOGIN_COOKIE, "oidc-login", 600))
    identity = await client.finish(
        str(request.url_for("oidc_callback")), dict(request.query_params), pending
    )
    user = await onboarding.sign_in(session, identity, ip=client_ip(request))
    response = RedirectResponse("/" if user else "/auth/welcome", status_code=303)
    response.delete_cookie(_LOGIN_COOKIE, path="/auth")
    if user is None:
        value = _signer(request, "newcomer").dumps(_identity_cookie(identity))
        _set(request, response, _PENDING_COOKIE, value, _PENDING_MAX_AGE)
    else:
        _start_session(request, response, user, identity.id_token)
    return response


@router.post("/redeem")
async def redeem_code(
    body: CodeIn, request: Request, response: Response, session: SessionDep
) -> SessionOut:
    """A newcomer verified by the provider joins the organisation of their access code.

    A refused code leaves the pending sign-in in place, so the user can try another code.
    """
    return await redeem_pending(request, response, session, body.code)


async def redeem_pending(
    request: Request, response: Response, session: AsyncSession, code: str
) -> SessionOut:
    """Join with an access code as the pending newcomer, and start their session on `response`.

    Shared by the JSON endpoint and the welcome page of the web UI.
    """
    data = _read(request, _PENDING_COOKIE, "newcomer", _PENDING_MAX_AGE)
    if not isinstance(data, dict):
        raise PendingSignInMissing()
    identity = OidcIdentity(**data, claims={})
    user = await onboarding.join_with_code(session, identity, code, ip=client_ip(request))
    return _start_session(request, response, user, identity.id_token)


@router.get("/logout")
async def oidc_logout(request: Request) -> RedirectResponse:
    """End the session here and at the provider (RP-initiated logout)."""
    settings = services_of(request).settings
    target = "/"
    id_token = _read(request, _ID_TOKEN_COOKIE, "idt", 365 * 24 * 3600)
    client: OidcClient | None = services_of(request).oidc
    if client is not None and isinstance(id_token, str):
        back = str(request.base_url).rstrip("/") + settings.oidc.post_logout_redirect_path
        target = await client.logout_url(id_token, back, "logout") or "/"
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(settings.sessions.cookie_name, path="/")
    response.delete_cookie(_ID_TOKEN_COOKIE, path="/auth")
    return response


def _identity_cookie(identity: OidcIdentity) -> dict[str, Any]:
    return {
        "issuer": identity.issuer,
        "subject": identity.subject,
        "email": identity.email,
        "given_name": identity.given_name,
        "family_name": identity.family_name,
        "organisation_id": identity.organisation_id,
        "id_token": identity.id_token,
    }
