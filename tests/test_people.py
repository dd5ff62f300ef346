"""Joining and managing people: sign-up with an access code, one-time links, deny by default."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Select, select, update

from autan.accounts import codes, repository, service
from autan.accounts.models import AccessCode, AccountLink, AuditEvent, Organisation, User
from autan.core.db import create_engine, session_factory, utcnow
from tests.support.web import PASSWORD, PEOPLE, Site, hidden, run_site, sign_in

NEW_PASSWORD = "trois petits chats blancs"


@pytest.fixture
async def site(tmp_path: Path, database_url: str) -> AsyncIterator[Site]:
    async with run_site(tmp_path, database_url) as running:
        yield running


@pytest.fixture
async def sqlite_site(tmp_path: Path, sqlite_databases: object) -> AsyncIterator[Site]:
    database_url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    async with run_site(tmp_path, database_url) as running:
        yield running


async def in_db(site: Site, statement: object) -> list[object]:
    """Rows of a statement, or run an update and commit."""
    engine = create_engine(site.autan.settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            if isinstance(statement, Select):
                return list((await session.execute(statement)).scalars())
            await session.execute(statement)  # type: ignore[call-overload]
            await session.commit()
            return []
    finally:
        await engine.dispose()


async def new_code(site: Site, slug: str = "agri", uses: int = 2, days: int = 5) -> str:
    engine = create_engine(site.autan.settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            org = await repository.org_by_slug(session, slug)
            assert org is not None
            secret = site.autan.settings.resolved_secret_key()
            created = await codes.create_code(
                session,
                secret,
                org=org,
                creator=None,
                label="Accueil",
                max_uses=uses,
                valid_days=days,
            )
            return created.code
    finally:
        await engine.dispose()


async def post_signup(browser: httpx.AsyncClient, **fields: str) -> httpx.Response:
    page = await browser.get("/auth/signup")
    assert page.status_code == 200
    return await browser.post(
        "/auth/signup", data={"form_token": hidden(page.text, "form_token"), **fields}
    )


async def test_sign_up_with_an_access_code(site: Site) -> None:
    code = await new_code(site)
    async with site.browser() as browser:
        login = (await browser.get("/login")).text
        assert 'href="/auth/signup"' in login and "Créer un compte" in login
        typed = {"email": "nouvelle@agriculture.gouv.fr", "name": "Anne Nouvelle"}
        short = await post_signup(browser, **typed, password="court", code=code)
        assert short.status_code == 400 and "au moins 12 caractères" in short.text
        assert 'value="Anne Nouvelle"' in short.text and f'value="{code}"' in short.text
        assert "court" not in short.text.split("<form")[1]  # the password is not sent back
        wrong = await post_signup(browser, **typed, password=NEW_PASSWORD, code="AAAA-BBBB")
        assert wrong.status_code == 400 and "code d&#39;accès n&#39;est pas valide" in wrong.text
        taken = await post_signup(
            browser, email=PEOPLE["member_a"][0], password=NEW_PASSWORD, code=code
        )
        assert taken.status_code == 409 and "existe déjà" in taken.text
        joined = await post_signup(browser, **typed, password=NEW_PASSWORD, code=code)
        assert joined.status_code == 303 and joined.headers["location"] == "/"
        # Signed in at once; the usage charter comes first, as for everyone.
        home = await browser.get("/")
        assert home.status_code == 303 and home.headers["location"] == "/charter"
    user = (await in_db(site, select(User).where(User.email == typed["email"])))[0]
    assert isinstance(user, User) and user.role == "member" and user.display_name == typed["name"]
    rows = await in_db(site, select(AccessCode))
    assert [r.uses for r in rows if isinstance(r, AccessCode)] == [1]
    events = await in_db(site, select(AuditEvent).where(AuditEvent.action == "signed_up"))
    assert [(e.actor_id, e.target) for e in events if isinstance(e, AuditEvent)] == [
        (user.id, typed["email"])
    ]
    async with site.browser() as browser:
        assert (await sign_in(browser, typed["email"], NEW_PASSWORD)).status_code == 303


async def test_sign_up_refusals(sqlite_site: Site) -> None:
    site = sqlite_site
    expired = await new_code(site)
    await in_db(site, update(AccessCode).values(expires_at=utcnow() - timedelta(minutes=1)))
    other_org = await new_code(site, "culture")
    async with site.browser() as browser:
        old = await post_signup(browser, email="a@exemple.fr", password=NEW_PASSWORD, code=expired)
        assert old.status_code == 400 and "a expiré" in old.text
        # A domain that belongs to agriculture cannot join culture with culture's code.
        await in_db(
            site,
            update(Organisation)
            .where(Organisation.slug == "agri")
            .values(allowed_domains=["agriculture.gouv.fr"]),
        )
        from autan.accounts.models import OrganisationDomain

        agri = (await in_db(site, select(Organisation).where(Organisation.slug == "agri")))[0]
        assert isinstance(agri, Organisation)
        engine = create_engine(site.autan.settings.resolved_database_url)
        async with session_factory(engine)() as session:
            session.add(OrganisationDomain(domain="agriculture.gouv.fr", org_id=agri.id))
            await session.commit()
        await engine.dispose()
        crossed = await post_signup(
            browser, email="x@agriculture.gouv.fr", password=NEW_PASSWORD, code=other_org
        )
        assert crossed.status_code == 400 and "autre organisation" in crossed.text
        own = await post_signup(
            browser, email="x@agriculture.gouv.fr", password="x@agriculture.gouv.fr", code=other_org
        )
        assert own.status_code == 400
        forged = await browser.post(
            "/auth/signup", data={"form_token": "forged", "email": "y@exemple.fr"}
        )
        assert forged.status_code == 403
    # Nobody was created, and culture's code was not spent by the refusals.
    assert await in_db(site, select(User).where(User.email.like("x@%"))) == []
    site.autan.settings.sessions.signup_enabled = False
    async with site.browser() as browser:
        assert (await browser.get("/auth/signup")).status_code == 404
        assert 'href="/auth/signup"' not in (await browser.get("/login")).text


async def test_sign_up_is_throttled(sqlite_site: Site) -> None:
    async with sqlite_site.browser() as browser:
        statuses = []
        for _ in range(6):
            response = await post_signup(
                browser, email="z@exemple.fr", password=NEW_PASSWORD, code="ZZZZ-ZZZZ-ZZZZ"
            )
            statuses.append(response.status_code)
        assert statuses[:3] == [400, 400, 400] and 429 in statuses
        assert "Trop de tentatives" in response.text or "attendre" in response.text


def link_of(html: str) -> str:
    found = re.search(r'<code id="new-link">https?://[^/]+(/auth/link/[^<]+)</code>', html)
    assert found, html
    return found.group(1)


async def set_password(
    browser: httpx.AsyncClient, path: str, password: str, confirm: str | None = None
) -> httpx.Response:
    page = await browser.get(path)
    assert page.status_code == 200, page.text
    return await browser.post(
        path,
        data={
            "form_token": hidden(page.text, "form_token"),
            "password": password,
            "confirm": password if confirm is None else confirm,
        },
    )


async def test_invite_then_set_a_password(site: Site) -> None:
    async with site.signed_in("ref_a") as referent:
        form = await referent.get("/admin/orgs/agri/invite")
        assert form.status_code == 200 and 'value="admin"' not in form.text
        csrf = hidden(form.text, "csrf_token")
        bad = await referent.post(
            "/admin/orgs/agri/invite", data={"csrf_token": csrf, "email": "pas-une-adresse"}
        )
        assert bad.status_code == 400 and 'value="pas-une-adresse"' in bad.text
        admin = await referent.post(
            "/admin/orgs/agri/invite",
            data={"csrf_token": csrf, "email": "chef@agriculture.gouv.fr", "role": "admin"},
        )
        assert admin.status_code == 400 and "Seuls les administrateurs" in admin.text
        created = await referent.post(
            "/admin/orgs/agri/invite",
            data={"csrf_token": csrf, "email": "Invitee@Agriculture.gouv.fr", "name": "Iris"},
        )
        assert created.status_code == 201 and "invitee@agriculture.gouv.fr" in created.text
        path = link_of(created.text)
    token = path.rsplit("/", 1)[1]
    stored = await in_db(site, select(AccountLink))
    assert [row.token_hash for row in stored if isinstance(row, AccountLink)] == [
        hashlib.sha256(token.encode()).hexdigest()
    ]
    async with site.browser() as newcomer:
        # Not signed in yet: the invited account has no password.
        refused = await sign_in(newcomer, "invitee@agriculture.gouv.fr", "")
        assert refused.status_code != 303
        mismatch = await set_password(newcomer, path, NEW_PASSWORD, "autre chose encore")
        assert mismatch.status_code == 400 and "pas identiques" in mismatch.text
        weak = await set_password(newcomer, path, "court")
        assert weak.status_code == 400 and "au moins 12" in weak.text
        done = await set_password(newcomer, path, NEW_PASSWORD)
        assert done.status_code == 303 and done.headers["location"] == "/login?password=set"
        assert (
            "Votre mot de passe est enregistré"
            in (await newcomer.get(done.headers["location"])).text
        )
        assert (
            await sign_in(newcomer, "invitee@agriculture.gouv.fr", NEW_PASSWORD)
        ).status_code == 303
        assert (await newcomer.get("/")).headers["location"] == "/charter"
    async with site.browser() as again:
        used = await again.get(path)
        assert used.status_code == 410 and "déjà été utilisé" in used.text
        forged = await again.get("/auth/link/" + "A" * 43)
        assert forged.status_code == 410 and "pas valide" in forged.text
    actions = await in_db(site, select(AuditEvent.action).order_by(AuditEvent.id))
    assert "invitation_created" in actions and "invitation_used" in actions


async def test_reset_links_expire_are_single_and_stay_in_their_organisation(
    sqlite_site: Site,
) -> None:
    site = sqlite_site
    member = (await in_db(site, select(User).where(User.email == PEOPLE["member_a"][0])))[0]
    admin = (await in_db(site, select(User).where(User.email == PEOPLE["admin"][0])))[0]
    assert isinstance(member, User) and isinstance(admin, User)
    async with site.signed_in("ref_a") as referent:
        csrf = hidden((await referent.get("/admin/orgs/agri/users")).text, "csrf_token")
        target = f"/admin/orgs/agri/users/{member.id}/reset-link"
        first = link_of((await referent.post(target, data={"csrf_token": csrf})).text)
        second = await referent.post(target, data={"csrf_token": csrf})
        assert second.status_code == 201 and "nouveau mot de passe" in second.text
        latest = link_of(second.text)
        # Another organisation's person: not found, whoever asks.
        stranger = await referent.post(
            f"/admin/orgs/agri/users/{admin.id}/reset-link", data={"csrf_token": csrf}
        )
        assert stranger.status_code == 404
    async with site.browser() as browser:
        # The older link stopped working when the newer one was made.
        assert (await browser.get(first)).status_code == 410
        await in_db(site, update(AccountLink).values(expires_at=utcnow() - timedelta(seconds=1)))
        expired = await browser.get(latest)
        assert expired.status_code == 410 and "a expiré" in expired.text
    async with site.signed_in("ref_a") as referent:
        csrf = hidden((await referent.get("/admin/orgs/agri/users")).text, "csrf_token")
        fresh = link_of(
            (
                await referent.post(
                    f"/admin/orgs/agri/users/{member.id}/reset-link", data={"csrf_token": csrf}
                )
            ).text
        )
    # The person moved to another organisation: a link made in the first no longer opens.
    culture = (await in_db(site, select(Organisation).where(Organisation.slug == "culture")))[0]
    assert isinstance(culture, Organisation)
    await in_db(site, update(User).where(User.id == member.id).values(org_id=culture.id))
    async with site.browser() as browser:
        assert (await browser.get(fresh)).status_code == 410
        assert (await sign_in(browser, PEOPLE["member_a"][0], PASSWORD)).status_code == 303


async def test_other_organisations_cannot_invite_reset_or_read(sqlite_site: Site) -> None:
    site = sqlite_site
    member = (await in_db(site, select(User).where(User.email == PEOPLE["member_a"][0])))[0]
    assert isinstance(member, User)
    async with site.signed_in("ref_b") as stranger:
        csrf = hidden((await stranger.get("/")).text, "csrf_token")
        for path in (
            "/admin/orgs/agri/invite",
            "/admin/orgs/agri/audit",
            "/admin/orgs/agri/audit.csv",
        ):
            assert (await stranger.get(path)).status_code == 404, path
        invited = await stranger.post(
            "/admin/orgs/agri/invite", data={"csrf_token": csrf, "email": "intrus@exemple.fr"}
        )
        assert invited.status_code == 404
        for slug in ("agri", "culture"):
            reset = await stranger.post(
                f"/admin/orgs/{slug}/users/{member.id}/reset-link", data={"csrf_token": csrf}
            )
            assert reset.status_code == 404, slug
        own = (await stranger.get("/admin/orgs/culture/audit")).text
        assert PEOPLE["ref_a"][0] not in own and PEOPLE["member_a"][0] not in own
        api = await stranger.post(
            "/api/orgs/agri/invitations",
            json={"email": "intrus@exemple.fr"},
            headers={"X-CSRF-Token": csrf},
        )
        assert api.status_code == 404
    async with site.signed_in("member_a") as member_browser:
        csrf = hidden((await member_browser.get("/")).text, "csrf_token")
        for path in ("/admin/orgs/agri/invite", "/admin/orgs/agri/audit.csv"):
            assert (await member_browser.get(path)).status_code == 403, path
        posted = await member_browser.post(
            "/admin/orgs/agri/invite", data={"csrf_token": csrf, "email": "x@exemple.fr"}
        )
        assert posted.status_code == 403
    assert await in_db(site, select(AccountLink)) == []
    assert await in_db(site, select(User).where(User.email.like("intrus%"))) == []


async def test_invitations_through_the_api(sqlite_site: Site) -> None:
    site = sqlite_site
    engine = create_engine(site.autan.settings.resolved_database_url)
    async with session_factory(engine)() as session:
        key = await service.create_api_key(session, PEOPLE["ref_a"][0])
    await engine.dispose()
    headers = {"Authorization": f"Bearer {key.secret}"}
    async with httpx.AsyncClient(base_url=site.autan.base_url, headers=headers) as api:
        created = await api.post(
            "/api/orgs/agri/invitations", json={"email": "api@agriculture.gouv.fr"}
        )
        assert created.status_code == 201
        body = created.json()
        assert body["kind"] == "invitation" and "/auth/link/" in body["url"]
        again = await api.post(
            "/api/orgs/agri/invitations", json={"email": "api@agriculture.gouv.fr"}
        )
        assert again.status_code == 409 and again.json()["error"]["code"] == "user_exists"
        reset = await api.post(f"/api/orgs/agri/users/{body['user_id']}/password-link")
        # Never set a password: a new invitation rather than a reset.
        assert reset.status_code == 201 and reset.json()["kind"] == "invitation"
        refused = await api.post(
            "/api/orgs/culture/invitations", json={"email": "x@culture.gouv.fr"}
        )
        assert refused.status_code == 404
