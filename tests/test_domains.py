"""Email domains: validation, and one organisation per domain, enforced by the database."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts import domains, repository, service
from autan.accounts.domains import DomainTaken, InvalidDomain, SharedDomain, normalise_domain
from autan.accounts.models import Organisation, OrganisationDomain


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("culture.gouv.fr", "culture.gouv.fr"),
        (" @Culture.GOUV.fr. ", "culture.gouv.fr"),
        ("ac-versailles.fr", "ac-versailles.fr"),
        ("mairie-évry.fr", "xn--mairie-vry-h7a.fr"),
    ],
)
def test_domains_are_normalised(typed: str, stored: str) -> None:
    assert normalise_domain(typed) == stored


@pytest.mark.parametrize(
    "typed", ["fr", "culture", "a..fr", "-x.fr", "x-.fr", "x y.fr", "x.fr/", "ag@ri.fr", "1.2.3.4"]
)
def test_what_is_not_a_hostname_is_refused(typed: str) -> None:
    with pytest.raises(InvalidDomain):
        normalise_domain(typed)


@pytest.mark.parametrize("typed", ["gouv.fr", "GOUV.FR", "gmail.com", "orange.fr", "asso.fr"])
def test_shared_suffixes_and_webmail_cannot_be_claimed(typed: str) -> None:
    with pytest.raises(SharedDomain):
        normalise_domain(typed)


async def _org(maker: async_sessionmaker[AsyncSession], slug: str) -> Organisation:
    async with maker() as session:
        org = await repository.org_by_slug(session, slug)
        assert org is not None
        return org


async def test_two_organisations_racing_for_a_domain_cannot_both_get_it(
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    maker = session_maker
    async with maker() as session:
        await service.create_org(session, "first", "First")
        await service.create_org(session, "second", "Second")
    first, second = await _org(maker, "first"), await _org(maker, "second")
    first_id, second_id = first.id, second.id
    engine = maker.kw["bind"]
    b_inserts = asyncio.Event()

    def watch(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith("INSERT INTO organisation_domains"):
            b_inserts.set()

    async with maker() as a, maker() as b:
        a.add(first)
        b.add(second)
        # A has claimed the domain but not committed: B cannot see the claim yet, so B gets
        # past its check and only the database can refuse it.
        await domains.set_domains(a, first, ["race.test"], None)
        event.listen(engine.sync_engine, "before_cursor_execute", watch)
        try:
            racer = asyncio.create_task(domains.set_domains(b, second, ["race.test"], None))
            await b_inserts.wait()
            await a.commit()
            with pytest.raises(DomainTaken):
                await racer
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", watch)
    async with maker() as session:
        held = await session.get(OrganisationDomain, "race.test")
        assert held is not None and held.org_id == first_id
    async with maker() as session:
        # And whatever the code does, the table refuses a second holder.
        with pytest.raises(IntegrityError):
            await session.execute(
                insert(OrganisationDomain).values(domain="race.test", org_id=second_id)
            )


async def test_a_newcomer_joins_the_organisation_holding_their_domain(
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    async with session_maker() as session:
        await service.create_org(session, "culture", "Culture", domains=["Culture.gouv.fr"])
        found = await domains.org_of_domain(session, "culture.gouv.fr")
        assert found is not None and found.slug == "culture"
        assert await domains.org_of_domain(session, "gouv.fr") is None
        with pytest.raises(DomainTaken):
            await service.create_org(session, "copy", "Copy", domains=["culture.gouv.fr"])
