"""Creating users and API keys, and turning an API key into a `Principal`."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts import audit, repository
from autan.accounts.domains import set_domains
from autan.accounts.errors import InvalidApiKey, InvalidEmail, UserExists, UserNotFound
from autan.accounts.models import ApiKey, Organisation, Role, User
from autan.accounts.principal import Principal
from autan.core.cache import LoadingCache
from autan.core.db import utcnow
from autan.core.errors import Conflict, InvalidRequest
from autan.core.events import ApiKeyRevoked, EventBus, UserChanged, emit
from autan.core.security import generate_api_key, hash_api_key, hash_password

DEFAULT_ORG_SLUG = "default"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,63}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_email(email: str) -> str:
    """Emails compare case-insensitively; store them lower-cased and trimmed."""
    cleaned = email.strip().lower()
    if len(cleaned) > 320 or not _EMAIL.match(cleaned):
        raise InvalidEmail(email)
    return cleaned


async def ensure_org(session: AsyncSession, slug: str, name: str | None = None) -> Organisation:
    """The organisation with this slug, created if missing."""
    org = await repository.org_by_slug(session, slug)
    if org is None:
        org = Organisation(slug=slug, name=name or slug)
        session.add(org)
        await session.flush()
    return org


async def create_org(
    session: AsyncSession,
    slug: str,
    name: str,
    *,
    domains: list[str] | None = None,
    external_id: str | None = None,
) -> Organisation:
    """Create an organisation and commit."""
    if not _SLUG.match(slug):
        raise InvalidRequest(
            "An organisation slug has 2 to 64 lower-case letters, digits or dashes.", param="slug"
        )
    if await repository.org_by_slug(session, slug) is not None:
        raise Conflict(
            "The organisation {slug} already exists.",
            code="organisation_exists",
            values={"slug": slug},
        )
    org = Organisation(slug=slug, name=name, allowed_domains=[], external_id=external_id)
    session.add(org)
    await session.flush()
    await set_domains(session, org, domains or [], actor=None)
    audit.record(session, audit.Action.ORG_CREATED, actor_id=None, org_id=None, target=slug)
    await session.commit()
    return org


async def org_summaries(session: AsyncSession) -> list[tuple[str, str, int]]:
    """Slug, name and member count of every organisation."""
    rows = await session.execute(
        select(Organisation.slug, Organisation.name, func.count(User.id))
        .outerjoin(User, User.org_id == Organisation.id)
        .group_by(Organisation.id)
        .order_by(Organisation.slug)
    )
    return [(slug, name, count) for slug, name, count in rows]


async def user_summaries(
    session: AsyncSession, *, org_slug: str | None = None, search: str = ""
) -> list[tuple[str, str, str, bool]]:
    """Email, role, organisation slug and active flag of users, by email."""
    statement = select(User.email, User.role, Organisation.slug, User.is_active).join(
        Organisation, Organisation.id == User.org_id
    )
    if org_slug:
        statement = statement.where(Organisation.slug == org_slug)
    if search.strip():
        pattern = f"%{search.strip().lower()}%"
        statement = statement.where(
            (func.lower(User.email).like(pattern)) | (func.lower(User.display_name).like(pattern))
        )
    rows = await session.execute(statement.order_by(User.email))
    return [(email, str(role), slug, active) for email, role, slug, active in rows]


async def change_user(
    session: AsyncSession,
    user: User,
    *,
    actor_id: uuid.UUID | None,
    role: Role | None = None,
    is_active: bool | None = None,
) -> User:
    """Change a user's role or status, audit what changed, and commit.

    Disabling ends the user's sessions at once (their session epoch moves on).
    """
    changes: dict[str, Any] = {}
    if role is not None and role != user.role:
        changes["role"] = [str(user.role), role.value]
        user.role = role
    if is_active is not None and is_active != user.is_active:
        changes["is_active"] = [user.is_active, is_active]
        user.is_active = is_active
        if not is_active:
            user.session_epoch += 1
    if changes:
        emit(session, UserChanged(user.id))
        audit.record(
            session,
            audit.Action.USER_UPDATED,
            actor_id=actor_id,
            org_id=user.org_id,
            target=user.email,
            **changes,
        )
        await session.commit()
    return user


async def update_user_by_email(
    session: AsyncSession, email: str, *, role: Role | None = None, is_active: bool | None = None
) -> User:
    """Change a user's role or status from the command line (an operator acts), and commit."""
    user = await repository.user_by_email(session, normalise_email(email))
    if user is None:
        raise UserNotFound(email)
    return await change_user(session, user, actor_id=None, role=role, is_active=is_active)


async def create_user(
    session: AsyncSession,
    email: str,
    *,
    role: Role = Role.MEMBER,
    org_slug: str = DEFAULT_ORG_SLUG,
    password: str | None = None,
    display_name: str = "",
) -> User:
    """Create a user in an organisation (created if needed) and commit."""
    email = normalise_email(email)
    if await repository.user_by_email(session, email) is not None:
        raise UserExists(email)
    org = await ensure_org(session, org_slug)
    user = User(
        email=email,
        role=role,
        org_id=org.id,
        display_name=display_name,
        password_hash=hash_password(password) if password else None,
    )
    session.add(user)
    await session.commit()
    return user


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A new key: the stored row, and the secret that is shown once and never again."""

    key: ApiKey
    secret: str


async def create_api_key(
    session: AsyncSession, email: str, *, name: str = "", expires_at: datetime | None = None
) -> CreatedKey:
    """Create an API key for the user with this email and commit."""
    user = await repository.user_by_email(session, normalise_email(email))
    if user is None:
        raise UserNotFound(email)
    created = new_key(user.id, name, expires_at)
    session.add(created.key)
    await session.commit()
    return created


def new_key(user_id: uuid.UUID, name: str, expires_at: datetime | None) -> CreatedKey:
    """A new key row (not yet added to a session) and its secret."""
    secret = generate_api_key()
    key = ApiKey(
        id=uuid.uuid4(),
        user_id=user_id,
        name=name,
        prefix=secret[:12],
        secret_hash=hash_api_key(secret),
        expires_at=expires_at,
    )
    return CreatedKey(key=key, secret=secret)


class ApiKeyAuthenticator:
    """Checks Bearer secrets, with a short in-memory cache so requests rarely touch the DB.

    The cache follows the event bus: a revoked key, or a key whose owner was disabled or
    changed, stops working at once in this process and within a second in the others (within
    the bus's short TTL while its transport is down). Unknown keys are cached too, so a flood
    of bad keys cannot flood the database.
    """

    def __init__(
        self, factory: async_sessionmaker[AsyncSession], ttl: float, bus: EventBus | None = None
    ) -> None:
        self._factory = factory
        bus = bus or EventBus(None)  # alone: changes made elsewhere wait for the TTL
        self._cache: LoadingCache[str, tuple[Principal | None, datetime | None]] = LoadingCache(
            self._lookup, bus.ttl(ttl)
        )
        bus.subscribe(ApiKeyRevoked, lambda e: self.forget(e.key_hash))
        bus.subscribe(UserChanged, lambda e: self._forget_user(e.user_id))
        bus.on_reset(self._cache.clear)

    async def authenticate(self, secret: str) -> Principal:
        """The principal behind an API key secret, or `InvalidApiKey`."""
        principal, expires_at = await self._cache.get(hash_api_key(secret))
        if principal is None or (expires_at is not None and expires_at <= utcnow()):
            raise InvalidApiKey()
        return principal

    def forget(self, secret_hash: str) -> None:
        """Drop a key from the cache (after revocation)."""
        self._cache.forget(secret_hash)

    def _forget_user(self, user_id: uuid.UUID) -> None:
        self._cache.forget_where(
            lambda _, found: found[0] is not None and found[0].user_id == user_id
        )

    async def _lookup(self, digest: str) -> tuple[Principal | None, datetime | None]:
        async with self._factory() as session:
            found = await repository.key_with_user(session, digest)
        if found is None:
            return None, None
        key, user = found
        if key.revoked_at is not None or not user.is_active:
            return None, None
        principal = Principal(
            user_id=user.id,
            org_id=user.org_id,
            email=user.email,
            role=Role(user.role),
            api_key_id=key.id,
        )
        return principal, key.expires_at
