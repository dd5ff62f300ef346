"""Typed dependencies that hand the application's services to routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts.errors import MissingApiKey
from autan.accounts.principal import Principal
from autan.accounts.service import ApiKeyAuthenticator
from autan.core.metrics import Metrics
from autan.llm.gateway import Gateway
from autan.settings import Settings


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


async def get_gateway(request: Request) -> Gateway:
    gateway: Gateway = request.state.gateway
    return gateway


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.state.metrics
    return metrics


async def get_session_factory(request: Request) -> async_sessionmaker[AsyncSession]:
    factory: async_sessionmaker[AsyncSession] = request.state.session_factory
    return factory


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


SettingsDep = Annotated[Settings, Depends(get_settings)]
GatewayDep = Annotated[Gateway, Depends(get_gateway)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
SessionFactoryDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_session_factory)]
ApiPrincipal = Annotated[Principal, Depends(api_principal)]
