"""Redeeming access codes: single and multi use, expiry, revocation, typing mistakes, races."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts import codes, service
from autan.accounts.codes import AccessCodeRefused
from autan.accounts.models import AccessCode, AuditEvent, User
from autan.core.db import utcnow

Factory = async_sessionmaker[AsyncSession]
SECRET = "test-secret"


async def newcomer(session: AsyncSession, email: str) -> User:
    return await service.create_user(session, email, org_slug="pending")


async def test_a_code_binds_a_newcomer_to_the_organisation(session_maker: Factory) -> None:
    async with session_maker() as session:
        org = await service.create_org(session, "agri", "Agriculture")
        created = await codes.create_code(session, SECRET, org=org, creator=None, max_uses=1)
        user = await newcomer(session, "nouvelle@agriculture.gouv.fr")
        typed = " " + created.code.lower().replace("-", " ").replace("0", "o") + " "
        joined = await codes.redeem(session, typed, user, ip="192.0.2.1")
        assert joined.id == org.id and user.org_id == org.id
        with pytest.raises(AccessCodeRefused, match="already been used"):
            await codes.redeem(session, created.code, await newcomer(session, "b@agri.fr"))
        events = list(await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert events[-1] == "code_redeemed" and "code_created" in events


@pytest.mark.parametrize("change", ["expired", "revoked", "unknown"])
async def test_refused_codes_say_why_and_change_nothing(
    session_maker: Factory, change: str
) -> None:
    async with session_maker() as session:
        org = await service.create_org(session, "agri", "Agriculture")
        created = await codes.create_code(session, SECRET, org=org, creator=None, max_uses=None)
        if change == "expired":
            await session.execute(update(AccessCode).values(expires_at=utcnow() - timedelta(1)))
        elif change == "revoked":
            await session.execute(update(AccessCode).values(revoked_at=utcnow()))
        await session.commit()
        user = await newcomer(session, "x@agri.fr")
        before = user.org_id
        code = "AAAA-BBBB-CCCC-DDDD" if change == "unknown" else created.code
        expected = {"expired": "expired", "revoked": "withdrawn", "unknown": "not valid"}[change]
        with pytest.raises(AccessCodeRefused, match=expected):
            await codes.redeem(session, code, user)
        await session.refresh(user)
        row = await session.scalar(select(AccessCode))
    assert user.org_id == before and row is not None and row.uses == 0


async def test_the_last_use_goes_to_one_person_only(session_maker: Factory) -> None:
    async with session_maker() as session:
        org = await service.create_org(session, "agri", "Agriculture")
        created = await codes.create_code(session, SECRET, org=org, creator=None, max_uses=2)
        emails = [f"agent{i}@agri.fr" for i in range(5)]
        for email in emails:
            await newcomer(session, email)

    async def attempt(email: str) -> bool:
        async with session_maker() as session:
            user = await session.scalar(select(User).where(User.email == email))
            assert user is not None
            try:
                await codes.redeem(session, created.code, user)
            except AccessCodeRefused:
                return False
            return True

    results = await asyncio.gather(*(attempt(e) for e in emails))
    assert sum(results) == 2
    async with session_maker() as session:
        row = await session.scalar(select(AccessCode))
    assert row is not None and row.uses == 2


def test_codes_are_stable_readable_and_secret_bound() -> None:
    import uuid

    code_id = uuid.uuid4()
    code = codes.derive_code(SECRET, code_id)
    assert code == codes.derive_code(SECRET, code_id) != codes.derive_code("other", code_id)
    assert not set(code.replace("-", "")) & set("ILOU")
    assert codes.normalise_code(code.lower()) == code
