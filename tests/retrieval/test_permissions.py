"""Who sees and manages collections, and how unknown collections answer."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts import service as accounts
from autan.accounts.models import Role
from autan.accounts.principal import Principal
from autan.documents.errors import CollectionNotFound, VisibilityNotAllowed
from autan.documents.models import Collection, Visibility
from autan.documents.permissions import (
    can_manage_collection,
    readable_collection_ids,
    require_can_create,
    visible_collections,
)

Maker = async_sessionmaker[AsyncSession]


async def principal(session: AsyncSession, email: str, role: Role, org: str) -> Principal:
    await accounts.ensure_org(session, org)
    user = await accounts.create_user(session, email, role=role, org_slug=org)
    return Principal(user_id=user.id, org_id=user.org_id, email=email, role=role)


async def test_visibility_and_management(session_maker: Maker) -> None:
    async with session_maker() as session:
        alice = await principal(session, "alice@a.fr", Role.MEMBER, "a")
        bob = await principal(session, "bob@a.fr", Role.MEMBER, "a")
        referent = await principal(session, "ref@a.fr", Role.REFERENT, "a")
        outsider = await principal(session, "eve@b.fr", Role.MEMBER, "b")
        admin = await principal(session, "admin@b.fr", Role.ADMIN, "b")
        collections = {
            visibility: Collection(
                org_id=alice.org_id, owner_id=alice.user_id, name=visibility, visibility=visibility
            )
            for visibility in Visibility
        }
        session.add_all(collections.values())
        await session.commit()

        async def seen(who: Principal) -> set[str]:
            rows = await session.scalars(visible_collections(who))
            return {c.name for c in rows}

        assert await seen(alice) == {"private", "organisation", "public"}
        assert await seen(bob) == {"organisation", "public"}
        assert await seen(outsider) == {"public"}
        assert await seen(admin) == {"public"}  # nobody reads another's private collection

        managers = {
            v: [
                p.email
                for p in (alice, bob, referent, outsider, admin)
                if can_manage_collection(p, c)
            ]
            for v, c in collections.items()
        }
        assert managers == {
            Visibility.PRIVATE: ["alice@a.fr"],
            Visibility.ORGANISATION: ["alice@a.fr", "ref@a.fr", "admin@b.fr"],
            Visibility.PUBLIC: ["alice@a.fr", "ref@a.fr", "admin@b.fr"],
        }

        private = collections[Visibility.PRIVATE].id
        public = collections[Visibility.PUBLIC].id
        assert await readable_collection_ids(session, alice, [private, public, private]) == [
            private,
            public,
        ]
        assert await readable_collection_ids(session, bob, []) == []
        for unseen in (private, uuid.uuid4()):  # hidden and nonexistent answer alike
            with pytest.raises(CollectionNotFound) as caught:
                await readable_collection_ids(session, bob, [public, unseen])
            assert caught.value.message == "No such collection, or you do not have access to it."


def test_who_may_create_shared_collections() -> None:
    def who(role: Role) -> Principal:
        return Principal(user_id=uuid.uuid4(), org_id=uuid.uuid4(), email="x@y.fr", role=role)

    for role in Role:
        require_can_create(who(role), Visibility.PRIVATE)
    require_can_create(who(Role.REFERENT), Visibility.ORGANISATION)
    require_can_create(who(Role.ADMIN), Visibility.PUBLIC)
    with pytest.raises(VisibilityNotAllowed):
        require_can_create(who(Role.MEMBER), Visibility.ORGANISATION)
    with pytest.raises(VisibilityNotAllowed):
        require_can_create(who(Role.REFERENT), Visibility.PUBLIC)
