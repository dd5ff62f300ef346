"""API keys managed by their owners, and revoked by referents and admins in their scope."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts import audit
from autan.accounts.models import ApiKey, Role, User
from autan.accounts.principal import Principal
from autan.accounts.service import CreatedKey, new_key
from autan.core.db import utcnow
from autan.core.errors import InvalidRequest, NotFound
from autan.core.events import ApiKeyRevoked, emit


class ApiKeyNotFound(NotFound):
    code = "api_key_not_found"

    def __init__(self) -> None:
        super().__init__("No such API key.")


async def list_keys(session: AsyncSession, user_id: uuid.UUID) -> list[ApiKey]:
    """A user's keys, newest first (revoked ones included, for the record)."""
    rows = await session.scalars(
        select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.created_at.desc())
    )
    return list(rows)


async def create_own_key(
    session: AsyncSession, principal: Principal, name: str, expires_in_days: int | None
) -> CreatedKey:
    """A new key for the caller; its secret is returned once and never stored."""
    if expires_in_days is not None and not 1 <= expires_in_days <= 3650:
        raise InvalidRequest("A key expires in 1 to 3650 days.", param="expires_in_days")
    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    created = new_key(principal.user_id, name.strip()[:100], expires_at)
    session.add(created.key)
    audit.record(
        session,
        audit.Action.KEY_CREATED,
        actor_id=principal.user_id,
        org_id=principal.org_id,
        target=str(created.key.id),
    )
    await session.commit()
    return created


async def revoke_key(session: AsyncSession, key_id: uuid.UUID, actor: Principal) -> ApiKey:
    """Revoke a key: one's own, any in one's organisation for a referent, any for an admin."""
    found = (
        await session.execute(
            select(ApiKey, User).join(User, User.id == ApiKey.user_id).where(ApiKey.id == key_id)
        )
    ).first()
    if found is None:
        raise ApiKeyNotFound()
    key, owner = found
    allowed = (
        owner.id == actor.user_id
        or actor.role == Role.ADMIN
        or (actor.role == Role.REFERENT and owner.org_id == actor.org_id)
    )
    if not allowed:
        raise ApiKeyNotFound()
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit.record(
            session,
            audit.Action.KEY_REVOKED,
            actor_id=actor.user_id,
            org_id=owner.org_id,
            target=str(key.id),
        )
        emit(session, ApiKeyRevoked(key.secret_hash))
        await session.commit()
    return key
