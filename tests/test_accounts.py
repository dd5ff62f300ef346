"""Users and API keys on both engines: hashing at rest, revocation, expiry, the cache."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts import service
from autan.accounts.errors import InvalidApiKey, InvalidEmail, UserExists, UserNotFound
from autan.accounts.models import ApiKey, Organisation, Role, User
from autan.core.db import utcnow
from autan.core.security import hash_api_key, verify_password

Factory = async_sessionmaker[AsyncSession]


async def test_users_belong_to_an_organisation(session_maker: Factory) -> None:
    async with session_maker() as session:
        user = await service.create_user(
            session,
            "  Marie.Curie@CNRS.fr ",
            role=Role.REFERENT,
            org_slug="cnrs",
            password="radium-88",
        )
        org = await session.scalar(select(Organisation).where(Organisation.id == user.org_id))
    assert user.email == "marie.curie@cnrs.fr" and user.role is Role.REFERENT
    assert org is not None and org.slug == "cnrs"
    assert user.password_hash and user.password_hash.startswith("$argon2id$")
    assert verify_password(user.password_hash, "radium-88")
    assert not verify_password(user.password_hash, "radium-89")


async def test_duplicate_and_invalid_emails(session_maker: Factory) -> None:
    async with session_maker() as session:
        await service.create_user(session, "a@b.fr")
        with pytest.raises(UserExists):
            await service.create_user(session, "A@B.FR")
        for bad in ("", "pas-un-email", "a@b", "a b@c.fr", "x@" + "y" * 320 + ".fr"):
            with pytest.raises(InvalidEmail):
                await service.create_user(session, bad)
        with pytest.raises(UserNotFound):
            await service.create_api_key(session, "nobody@b.fr")


async def test_keys_are_hashed_at_rest_and_authenticate(session_maker: Factory) -> None:
    async with session_maker() as session:
        user = await service.create_user(session, "agent@interieur.gouv.fr")
        created = await service.create_api_key(session, user.email, name="script")
        stored = await session.scalar(select(ApiKey))
    assert stored is not None and created.secret not in (stored.secret_hash, stored.prefix)
    assert stored.secret_hash == hash_api_key(created.secret) and stored.name == "script"
    authenticator = service.ApiKeyAuthenticator(session_maker, ttl=30)
    principal = await authenticator.authenticate(created.secret)
    assert (principal.user_id, principal.org_id, principal.api_key_id) == (
        user.id,
        user.org_id,
        stored.id,
    )
    with pytest.raises(InvalidApiKey):
        await authenticator.authenticate(created.secret + "x")


@pytest.mark.parametrize("change", ["revoke", "disable_user", "expire"])
async def test_revoked_expired_or_disabled_keys_are_refused(
    session_maker: Factory, change: str
) -> None:
    async with session_maker() as session:
        user = await service.create_user(session, "agent@interieur.gouv.fr")
        created = await service.create_api_key(session, user.email)
        if change == "revoke":
            await session.execute(update(ApiKey).values(revoked_at=utcnow()))
        elif change == "disable_user":
            await session.execute(update(User).values(is_active=False))
        else:
            await session.execute(update(ApiKey).values(expires_at=utcnow() - timedelta(seconds=1)))
        await session.commit()
    with pytest.raises(InvalidApiKey):
        await service.ApiKeyAuthenticator(session_maker, ttl=30).authenticate(created.secret)


async def test_the_cache_spares_the_database_until_forgotten(session_maker: Factory) -> None:
    async with session_maker() as session:
        await service.create_user(session, "agent@interieur.gouv.fr")
        created = await service.create_api_key(session, "agent@interieur.gouv.fr")
    authenticator = service.ApiKeyAuthenticator(session_maker, ttl=60)
    await authenticator.authenticate(created.secret)
    async with session_maker() as session:
        await session.execute(update(ApiKey).values(revoked_at=utcnow()))
        await session.commit()
    await authenticator.authenticate(created.secret)  # cached: still valid for up to `ttl`
    authenticator.forget(hash_api_key(created.secret))
    with pytest.raises(InvalidApiKey):
        await authenticator.authenticate(created.secret)
