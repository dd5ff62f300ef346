"""The OIDC sign-in flow's signed cookies and session start, shared by the JSON routes of
`oidc_router` and the welcome page of the web UI (not a router: both import it)."""

from __future__ import annotations

import math
import time
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts import onboarding
from autan.accounts.errors import PendingSignInMissing
from autan.accounts.models import User
from autan.accounts.oidc import OidcClient, OidcIdentity
from autan.accounts.schemas import SessionOut
from autan.core.cookies import set_private_cookie
from autan.core.errors import NotFound
from autan.deps import client_ip, set_session_cookie
from autan.services import services_of
from autan.suitedocs.tokens import DOCS_TOKEN_COOKIE, seal

LOGIN_COOKIE = "autan_oidc"  # state, nonce and PKCE verifier between login and callback
PENDING_COOKIE = "autan_newcomer"  # a verified identity waiting for an access code
ID_TOKEN_COOKIE = "autan_idt"  # the ID token, for the provider's logout
PENDING_MAX_AGE = 900


class OidcDisabled(NotFound):
    code = "oidc_disabled"

    def __init__(self) -> None:
        super().__init__("Sign-in through an identity provider is not enabled here.")


def oidc_client(request: Request) -> OidcClient:
    """The OIDC client, or `OidcDisabled` when no provider is configured."""
    client: OidcClient | None = services_of(request).oidc
    if client is None:
        raise OidcDisabled()
    return client


def signer(request: Request, purpose: str) -> URLSafeTimedSerializer:
    """Signs the flow's cookies, one salt per purpose."""
    return URLSafeTimedSerializer(services_of(request).settings.resolved_secret_key(), salt=purpose)


def set_auth_cookie(
    request: Request, response: Response, name: str, value: str, max_age: int
) -> None:
    secure = services_of(request).settings.sessions.cookie_secure
    set_private_cookie(request, response, name, value, max_age=max_age, secure=secure, path="/auth")


def read_auth_cookie(request: Request, name: str, purpose: str, max_age: int) -> Any:
    """A signed cookie's content, or None if absent, tampered with or expired."""
    value = request.cookies.get(name)
    if not value:
        return None
    try:
        return signer(request, purpose).loads(value, max_age=max_age)
    except BadSignature:
        return None


def start_session(
    request: Request,
    response: Response,
    user: User,
    id_token: str,
    access: tuple[str, float | None] | None = None,
) -> SessionOut:
    """Open the session of a user signed in by the provider, keeping the ID token for logout
    and, encrypted in the person's browser only, the access token the Suite's Docs accepts."""
    codec = services_of(request).session_codec
    cookie, data = codec.issue(user.id, user.session_epoch)
    set_session_cookie(request, response, cookie)
    settings = services_of(request).settings
    hours = settings.sessions.absolute_timeout_hours
    set_auth_cookie(
        request, response, ID_TOKEN_COOKIE, signer(request, "idt").dumps(id_token), hours * 3600
    )
    if access is not None and settings.docs.url:
        token, expires_in = access
        lifetime = min(expires_in or math.inf, settings.docs.token_hours * 3600)
        sealed = seal(settings.resolved_secret_key(), token, time.time() + lifetime, user.id)
        secure = settings.sessions.cookie_secure
        set_private_cookie(
            request, response, DOCS_TOKEN_COOKIE, sealed, max_age=int(lifetime), secure=secure
        )
    response.delete_cookie(PENDING_COOKIE, path="/auth")
    return SessionOut(email=user.email, role=user.role, csrf_token=data.csrf)


async def redeem_pending(
    request: Request, response: Response, session: AsyncSession, code: str
) -> SessionOut:
    """Join with an access code as the pending newcomer, and start their session on `response`.

    Shared by the JSON endpoint and the welcome page of the web UI.
    """
    data = read_auth_cookie(request, PENDING_COOKIE, "newcomer", PENDING_MAX_AGE)
    if not isinstance(data, dict):
        raise PendingSignInMissing()
    identity = OidcIdentity(**data, claims={})
    user = await onboarding.join_with_code(session, identity, code, ip=client_ip(request))
    return start_session(request, response, user, identity.id_token)


def identity_cookie(identity: OidcIdentity) -> dict[str, Any]:
    """A verified identity, as the pending-newcomer cookie holds it."""
    return {
        "issuer": identity.issuer,
        "subject": identity.subject,
        "email": identity.email,
        "given_name": identity.given_name,
        "family_name": identity.family_name,
        "organisation_id": identity.organisation_id,
        "id_token": identity.id_token,
    }
