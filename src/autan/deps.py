"""Typed dependencies that hand the application's services to routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts.errors import MissingApiKey
from autan.accounts.principal import Principal
from autan.accounts.service import ApiKeyAuthenticator
from autan.core.metrics import Metrics
from autan.llm.gateway import Gateway
from autan.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="An Autan API key: `sk-autan-...`")


def get_settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


def get_gateway(request: Request) -> Gateway:
    gateway: Gateway = request.state.gateway
    return gateway


def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.state.metrics
    return metrics


def get_session_factory(request: Request) -> async_sessionmaker[AsyncSession]:
    factory: async_sessionmaker[AsyncSession] = request.state.session_factory
    return factory


async def api_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The user behind the request's `Authorization: Bearer` API key."""
    if credentials is None or not credentials.credentials:
        raise MissingApiKey()
    authenticator: ApiKeyAuthenticator = request.state.authenticator
    return await authenticator.authenticate(credentials.credentials)


SettingsDep = Annotated[Settings, Depends(get_settings)]
GatewayDep = Annotated[Gateway, Depends(get_gateway)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
SessionFactoryDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_session_factory)]
ApiPrincipal = Annotated[Principal, Depends(api_principal)]
