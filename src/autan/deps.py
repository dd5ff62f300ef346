"""Typed dependencies that hand the application's services to routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts.errors import CsrfFailed, MissingApiKey, NotSignedIn
from autan.accounts.principal import Principal
from autan.accounts.service import ApiKeyAuthenticator
from autan.accounts.sessions import (
    SessionAuthenticator,
    SessionCodec,
    SessionData,
    SessionRevocations,
)
from autan.core.cookies import set_private_cookie
from autan.core.metrics import Metrics
from autan.llm.client import ModelClient
from autan.llm.gateway import Gateway
from autan.settings import Settings


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


async def get_gateway(request: Request) -> Gateway:
    gateway: Gateway = request.state.gateway
    return gateway


async def get_models(request: Request) -> ModelClient:
    models: ModelClient = request.state.models
    return models


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.state.metrics
    return metrics


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A database session for the request; services commit, anything else is rolled back."""
    factory: async_sessionmaker[AsyncSession] = request.state.session_factory
    async with factory() as session:
        yield session


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer` header, if there is one."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


async def api_principal(request: Request) -> Principal:
    """The user behind the request's `Authorization: Bearer` API key."""
    # Read by hand rather than through fastapi.security.HTTPBearer: this runs on every
    # model request, and the extra dependency layer cost more than the rest of the auth.
    token = bearer_token(request)
    if token is None:
        raise MissingApiKey()
    authenticator: ApiKeyAuthenticator = request.state.authenticator
    return await authenticator.authenticate(token)


_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def session_data(request: Request) -> SessionData:
    """The browser session of the request, checked (signature, expiry)."""
    settings: Settings = request.state.settings
    cookie = request.cookies.get(settings.sessions.cookie_name)
    if not cookie:
        raise NotSignedIn()
    codec: SessionCodec = request.state.session_codec
    return codec.decode(cookie)


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def _csrf_token(request: Request) -> str | None:
    token = request.headers.get("x-csrf-token")
    if token is None and request.headers.get("content-type", "").startswith(_FORM_TYPES):
        value = (await request.form()).get("csrf_token")  # parsed once, cached by Starlette
        token = value if isinstance(value, str) else None
    return token


async def principal(request: Request, response: Response) -> Principal:
    """The caller: an API key (`Authorization: Bearer`) or a browser session.

    A browser session must also present its CSRF token (header `X-CSRF-Token`, or the
    field `csrf_token` of an HTML form) on every state-changing request; API keys are not
    sent by browsers on their own, so need none.
    """
    if bearer_token(request) is not None:
        return await api_principal(request)
    data = await session_data(request)
    codec: SessionCodec = request.state.session_codec
    if request.method in _UNSAFE_METHODS and not codec.csrf_ok(data, await _csrf_token(request)):
        # A refused form's uploads are closed here: the route that would close them never runs.
        await request.close()
        raise CsrfFailed()
    authenticator: SessionAuthenticator = request.state.session_authenticator
    found = await authenticator.principal(data)
    refreshed = codec.touched(data)
    if refreshed is not None:
        set_session_cookie(request, response, codec.encode(refreshed))
    return found


async def end_session(request: Request, session: AsyncSession, data: SessionData) -> None:
    """Revoke a browser session in every process (logout)."""
    codec: SessionCodec = request.state.session_codec
    revocations: SessionRevocations = request.state.session_revocations
    await revocations.revoke(session, data.session_id, codec.expires_at(data))


def set_session_cookie(request: Request, response: Response, value: str) -> None:
    """Set the session cookie: HttpOnly, SameSite=Lax, Secure over HTTPS."""
    sessions = request.state.settings.sessions
    set_private_cookie(
        request,
        response,
        sessions.cookie_name,
        value,
        max_age=sessions.absolute_timeout_hours * 3600,
    )


SettingsDep = Annotated[Settings, Depends(get_settings)]
GatewayDep = Annotated[Gateway, Depends(get_gateway)]
ModelsDep = Annotated[ModelClient, Depends(get_models)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
ApiPrincipal = Annotated[Principal, Depends(api_principal)]
CurrentPrincipal = Annotated[Principal, Depends(principal)]
CurrentSession = Annotated[SessionData, Depends(session_data)]
