"""Typed dependencies that hand the application's services (`autan.services`) to routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts.charter_gate import CharterGate
from autan.accounts.errors import CsrfFailed, MissingApiKey, NotSignedIn
from autan.accounts.model_access import ModelAccess
from autan.accounts.oidc import OidcClient
from autan.accounts.org_policy import OrgPolicies
from autan.accounts.principal import Principal
from autan.accounts.sessions import SessionData
from autan.accounts.throttle import LoginThrottle
from autan.chat.turns import Turns
from autan.core.cookies import set_private_cookie
from autan.core.events import EventBus
from autan.core.metrics import Metrics
from autan.documents.worker import IngestionWorker
from autan.llm.client import ModelClient
from autan.llm.gateway import Gateway
from autan.quotas.service import Quotas
from autan.services import Services, services_of
from autan.settings import Settings
from autan.web.templating import Templates
from autan.websearch.chat import WebGrounding


async def get_services(request: Request) -> Services:
    """The application's services (one object, built in the lifespan)."""
    return services_of(request)


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_settings(services: ServicesDep) -> Settings:
    return services.settings


async def get_gateway(services: ServicesDep) -> Gateway:
    return services.gateway


async def get_models(services: ServicesDep) -> ModelClient:
    return services.models


async def get_metrics(services: ServicesDep) -> Metrics:
    return services.metrics


async def get_events(services: ServicesDep) -> EventBus:
    return services.events


async def get_documents(services: ServicesDep) -> IngestionWorker:
    return services.documents


async def get_turns(services: ServicesDep) -> Turns:
    return services.turns


async def get_web_search(services: ServicesDep) -> WebGrounding:
    return services.web


async def get_quotas(services: ServicesDep) -> Quotas:
    return services.quotas


async def get_login_throttle(services: ServicesDep) -> LoginThrottle:
    return services.login_throttle


async def get_org_policies(services: ServicesDep) -> OrgPolicies:
    return services.org_policies


async def get_model_access(services: ServicesDep) -> ModelAccess:
    return services.model_access


async def get_charter_gate(services: ServicesDep) -> CharterGate:
    return services.charter_gate


async def get_templates(services: ServicesDep) -> Templates:
    return services.templates


async def get_oidc(services: ServicesDep) -> OidcClient | None:
    return services.oidc


async def get_session(services: ServicesDep) -> AsyncIterator[AsyncSession]:
    """A database session for the request; services commit, anything else is rolled back."""
    async with services.session_factory() as session:
        yield session


def client_ip(request: Request) -> str | None:
    """The caller's address, for throttling and the audit log.

    It is the connection's peer unless uvicorn replaced it with X-Forwarded-For, which it
    does only for the proxies of `forwarded_allow_ips` (`cli.proxy_options`).
    """
    return request.client.host if request.client else None


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
    return await services_of(request).authenticator.authenticate(token)


_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def session_data(request: Request) -> SessionData:
    """The browser session of the request, checked (signature, expiry)."""
    services = services_of(request)
    cookie = request.cookies.get(services.settings.sessions.cookie_name)
    if not cookie:
        raise NotSignedIn()
    return services.session_codec.decode(cookie)


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
    services = services_of(request)
    codec = services.session_codec
    if request.method in _UNSAFE_METHODS and not codec.csrf_ok(data, await _csrf_token(request)):
        # A refused form's uploads are closed here: the route that would close them never runs.
        await request.close()
        raise CsrfFailed()
    found = await services.session_authenticator.principal(data)
    refreshed = codec.touched(data)
    if refreshed is not None:
        set_session_cookie(request, response, codec.encode(refreshed))
    return found


async def end_session(request: Request, session: AsyncSession, data: SessionData) -> None:
    """Revoke a browser session in every process (logout)."""
    services = services_of(request)
    expires_at = services.session_codec.expires_at(data)
    await services.session_revocations.revoke(session, data.session_id, expires_at)


def set_session_cookie(request: Request, response: Response, value: str) -> None:
    """Set the session cookie: HttpOnly, SameSite=Lax, Secure over HTTPS."""
    sessions = services_of(request).settings.sessions
    set_private_cookie(
        request,
        response,
        sessions.cookie_name,
        value,
        max_age=sessions.absolute_timeout_hours * 3600,
        secure=sessions.cookie_secure,
    )


SettingsDep = Annotated[Settings, Depends(get_settings)]
GatewayDep = Annotated[Gateway, Depends(get_gateway)]
ModelsDep = Annotated[ModelClient, Depends(get_models)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
EventsDep = Annotated[EventBus, Depends(get_events)]
DocumentsDep = Annotated[IngestionWorker, Depends(get_documents)]
TurnsDep = Annotated[Turns, Depends(get_turns)]
WebSearchDep = Annotated[WebGrounding, Depends(get_web_search)]
QuotasDep = Annotated[Quotas, Depends(get_quotas)]
LoginThrottleDep = Annotated[LoginThrottle, Depends(get_login_throttle)]
OrgPoliciesDep = Annotated[OrgPolicies, Depends(get_org_policies)]
ModelAccessDep = Annotated[ModelAccess, Depends(get_model_access)]
CharterGateDep = Annotated[CharterGate, Depends(get_charter_gate)]
TemplatesDep = Annotated[Templates, Depends(get_templates)]
OidcDep = Annotated[OidcClient | None, Depends(get_oidc)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
ApiPrincipal = Annotated[Principal, Depends(api_principal)]
CurrentPrincipal = Annotated[Principal, Depends(principal)]
CurrentSession = Annotated[SessionData, Depends(session_data)]
