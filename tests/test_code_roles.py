"""Access codes carry the role they grant: never above their creator's, admin codes by admins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts import codes, onboarding, service, signup
from autan.accounts.models import AccessCode, AuditEvent, Role, User
from autan.accounts.oidc import OidcIdentity
from autan.accounts.principal import Principal
from tests.support.web import Site, hidden, run_site
from tests.test_people import NEW_PASSWORD, in_db, post_signup

Factory = async_sessionmaker[AsyncSession]
SECRET = "test-secret"


@pytest.mark.parametrize(
    ("creator", "granted", "allowed"),
    [
        (Role.REFERENT, Role.MEMBER, True),
        (Role.REFERENT, Role.REFERENT, True),
        (Role.REFERENT, Role.ADMIN, False),
        (Role.MEMBER, Role.REFERENT, False),
        (Role.ADMIN, Role.ADMIN, True),
    ],
)
async def test_a_code_never_grants_more_than_its_creator_holds(
    session_maker: Factory, creator: Role, granted: Role, allowed: bool
) -> None:
    async with session_maker() as session:
        org = await service.create_org(session, "agri", "Agriculture")
        author = await service.create_user(session, f"{creator}@agri.fr", role=creator)
        me = Principal(user_id=author.id, email=author.email, role=creator, org_id=org.id)
        if not allowed:
            with pytest.raises(codes.CodeRoleTooHigh):
                await codes.create_code(session, SECRET, org=org, creator=me, role=granted)
            assert await session.scalar(select(AccessCode)) is None
            return
        created = await codes.create_code(session, SECRET, org=org, creator=me, role=granted)
        user = await signup.sign_up(
            session, email="new@agri.fr", name="Nouvelle", password=NEW_PASSWORD, code=created.code
        )
        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "code_created"))
    assert user.role == granted and user.org_id == org.id
    assert event is not None and event.details["role"] == granted.value


async def test_codes_grant_member_unless_told(session_maker: Factory) -> None:
    async with session_maker() as session:
        org = await service.create_org(session, "agri", "Agriculture")
        created = await codes.create_code(session, SECRET, org=org, creator=None)
        user = await signup.sign_up(
            session, email="new@agri.fr", name="", password=NEW_PASSWORD, code=created.code
        )
    assert created.row.role == Role.MEMBER and user.role == Role.MEMBER


@pytest.fixture
async def site(tmp_path: Path, database_url: str) -> AsyncIterator[Site]:
    async with run_site(tmp_path, database_url) as running:
        yield running


async def test_the_codes_page_offers_only_grantable_roles(site: Site) -> None:
    async with site.signed_in("ref_a") as referent:
        page = await referent.get("/admin/orgs/agri/codes")
        assert page.status_code == 200 and "Rôle accordé" in page.text
        assert 'value="referent"' in page.text and 'value="admin"' not in page.text
        csrf = hidden(page.text, "csrf_token")
        data = {"csrf_token": csrf, "label": "Chefs", "uses": "3", "days": "5"}
        refused = await referent.post("/admin/orgs/agri/codes", data={**data, "role": "admin"})
        assert refused.status_code == 400 and "supérieur au vôtre" in refused.text
        assert 'value="Chefs"' in refused.text  # what was typed stays
        made = await referent.post("/admin/orgs/agri/codes", data={**data, "role": "referent"})
        assert made.status_code == 303
        listed = await referent.get("/admin/orgs/agri/codes")
        code = listed.text.split('class="access-code">')[1].split("<")[0]
    async with site.browser() as newcomer:
        joined = await post_signup(
            newcomer, email="cheffe@agriculture.gouv.fr", password=NEW_PASSWORD, code=code
        )
        assert joined.status_code == 303
    users = await in_db(site, select(User).where(User.email == "cheffe@agriculture.gouv.fr"))
    assert [u.role for u in users if isinstance(u, User)] == [Role.REFERENT]


async def test_the_api_refuses_an_admin_code_from_a_referent(site: Site) -> None:
    async with site.signed_in("ref_a") as referent:
        page = await referent.get("/admin/orgs/agri/codes")
        headers = {"X-CSRF-Token": hidden(page.text, "csrf_token")}
        refused = await referent.post(
            "/api/orgs/agri/codes", json={"role": "admin"}, headers=headers
        )
        made = await referent.post(
            "/api/orgs/agri/codes", json={"role": "referent"}, headers=headers
        )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "code_role_too_high"
    assert made.status_code == 201 and made.json()["role"] == "referent"


async def test_the_proconnect_code_page_grants_the_codes_role(session_maker: Factory) -> None:
    async with session_maker() as session:
        org = await service.create_org(session, "agri", "Agriculture")
        created = await codes.create_code(
            session, SECRET, org=org, creator=None, role=Role.REFERENT
        )
        identity = OidcIdentity(
            issuer="https://proconnect.test",
            subject="abc",
            email="cheffe@agri.fr",
            given_name="Claire",
            family_name="Cheffe",
            organisation_id=None,
            id_token="token",
            claims={},
        )
        user = await onboarding.join_with_code(session, identity, created.code, ip=None)
    assert user.role == Role.REFERENT and user.org_id == org.id
