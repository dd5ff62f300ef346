"""Whether a person accepted their organisation's usage charter, from short caches.

It costs no database query per request: the user's accepted version and the organisation's
current version are cached per process for the same TTL as the session's user row
(`SessionAuthenticator`). The caches follow the event bus: accepting (`UserChanged`) forgets
the user's entry and editing the charter (`OrganisationChanged`) the organisation's, at once
in the process that served the change and within a second in the others.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts.models import Organisation, User
from autan.accounts.principal import Principal
from autan.core.cache import LoadingCache
from autan.core.events import EventBus, OrganisationChanged, UserChanged


class CharterGate:
    """Knows, from short caches, whether a person accepted their organisation's charter."""

    def __init__(
        self, factory: async_sessionmaker[AsyncSession], ttl: float, bus: EventBus | None = None
    ) -> None:
        self._factory = factory
        bus = bus or EventBus(None)  # alone: changes made elsewhere wait for the TTL
        self._accepted: LoadingCache[uuid.UUID, int | None] = LoadingCache(
            self._load_accepted, bus.ttl(ttl)
        )
        self._current: LoadingCache[uuid.UUID, int] = LoadingCache(self._load_current, bus.ttl(ttl))
        bus.subscribe(UserChanged, lambda e: self.forget_user(e.user_id))
        bus.subscribe(OrganisationChanged, lambda e: self.forget_org(e.org_id))
        bus.on_reset(self._accepted.clear)
        bus.on_reset(self._current.clear)

    async def _load_accepted(self, user_id: uuid.UUID) -> int | None:
        async with self._factory() as session:
            return await session.scalar(
                select(User.charter_accepted_version).where(User.id == user_id)
            )

    async def _load_current(self, org_id: uuid.UUID) -> int:
        async with self._factory() as session:
            version = await session.scalar(
                select(Organisation.charter_version).where(Organisation.id == org_id)
            )
            return version or 1

    async def accepted(self, who: Principal) -> bool:
        """Whether the person accepted the current version of their organisation's charter."""
        return await self._accepted.get(who.user_id) == await self._current.get(who.org_id)

    def forget_user(self, user_id: uuid.UUID) -> None:
        self._accepted.forget(user_id)

    def forget_org(self, org_id: uuid.UUID) -> None:
        self._current.forget(org_id)
