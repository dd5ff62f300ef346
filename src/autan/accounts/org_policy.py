"""What an organisation allows its members (models, web search), cached per process."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts.models import Organisation
from autan.core.cache import LoadingCache
from autan.core.events import EventBus, OrganisationChanged
from autan.websearch.addresses import DomainRules


@dataclass(frozen=True, slots=True)
class OrgPolicy:
    allowed_models: frozenset[str] | None
    web_search_allowed: bool
    web_domains: DomainRules = field(default_factory=DomainRules)
    deep_research_allowed: bool = True  # only counts when web search is allowed

    def allows_model(self, model_id: str) -> bool:
        return self.allowed_models is None or model_id in self.allowed_models


_EVERYTHING = OrgPolicy(None, True)


class OrgPolicies:
    """Organisation policies, reloaded `ttl` seconds after use or at once after a change."""

    def __init__(
        self, factory: async_sessionmaker[AsyncSession], ttl: float, bus: EventBus | None = None
    ) -> None:
        self._factory = factory
        bus = bus or EventBus(None)  # alone: changes made elsewhere wait for the TTL
        self._cache: LoadingCache[uuid.UUID, OrgPolicy] = LoadingCache(self._load, bus.ttl(ttl))
        bus.subscribe(OrganisationChanged, lambda e: self.forget(e.org_id))
        bus.on_reset(self._cache.clear)

    async def _load(self, org_id: uuid.UUID) -> OrgPolicy:
        async with self._factory() as session:
            org = await session.get(Organisation, org_id)
        if org is None:
            return _EVERYTHING
        models = frozenset(org.allowed_models) if org.allowed_models is not None else None
        domains = DomainRules(
            tuple(org.web_allowed_domains or ()), tuple(org.web_blocked_domains or ())
        )
        return OrgPolicy(models, org.web_search_allowed, domains, org.deep_research_allowed)

    async def of(self, org_id: uuid.UUID) -> OrgPolicy:
        return await self._cache.get(org_id)

    def forget(self, org_id: uuid.UUID) -> None:
        self._cache.forget(org_id)
