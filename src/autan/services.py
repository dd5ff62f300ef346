"""The application layer: every long-lived service a request may use, typed, in one object.

Built once in the lifespan of `create_app` and handed to routes through `autan.deps`;
routes parse the request, call a service, and render the result (JSON or HTML).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request

from autan.accounts.charter_gate import CharterGate
from autan.accounts.model_access import ModelAccess
from autan.accounts.oidc import OidcClient
from autan.accounts.org_policy import OrgPolicies
from autan.accounts.service import ApiKeyAuthenticator
from autan.accounts.sessions import SessionAuthenticator, SessionCodec, SessionRevocations
from autan.accounts.signin import PasswordSignIn
from autan.accounts.throttle import LoginThrottle
from autan.chat.turns import Turns
from autan.connectors.runtime import Drives
from autan.core.events import EventBus
from autan.core.metrics import Metrics
from autan.documents.worker import IngestionWorker
from autan.llm.client import ModelClient
from autan.llm.gateway import Gateway
from autan.quotas.service import Quotas
from autan.research.service import Research
from autan.settings import Settings
from autan.web.templating import Templates
from autan.websearch.chat import WebGrounding


@dataclass(frozen=True, slots=True)
class Services:
    """What the web process runs, for its routes; one instance per application."""

    settings: Settings
    session_factory: async_sessionmaker[AsyncSession]
    events: EventBus
    metrics: Metrics
    gateway: Gateway
    models: ModelClient
    documents: IngestionWorker
    drives: Drives
    turns: Turns
    web: WebGrounding
    research: Research
    quotas: Quotas
    login_throttle: LoginThrottle
    sign_in: PasswordSignIn
    org_policies: OrgPolicies
    model_access: ModelAccess
    authenticator: ApiKeyAuthenticator
    session_authenticator: SessionAuthenticator
    session_codec: SessionCodec
    session_revocations: SessionRevocations
    charter_gate: CharterGate
    templates: Templates
    oidc: OidcClient | None


def services_of(request: Request) -> Services:
    """The services of the application serving `request` (set by the lifespan)."""
    found: Services = request.state.services
    return found
