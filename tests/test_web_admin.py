"""The administration pages: a referent manages their organisation, nobody else's."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from autan.accounts import repository
from autan.accounts.models import AccessCode, AuditEvent, Organisation, QuotaRule, User
from autan.core.db import create_engine, session_factory
from tests.support.web import PEOPLE, Site, hidden, run_site


@pytest.fixture
async def site(tmp_path: Path, sqlite_databases: object) -> AsyncIterator[Site]:
    database_url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    async with run_site(tmp_path, database_url) as running:
        yield running


async def snapshot(site: Site) -> tuple[int, int, int, str]:
    """Counts that any change would move: audit events, codes, quota rules, org settings."""
    engine = create_engine(site.autan.settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            events = await session.scalar(select(func.count()).select_from(AuditEvent))
            code_rows = await session.scalar(select(func.count()).select_from(AccessCode))
            rules = await session.scalar(select(func.count()).select_from(QuotaRule))
            org = await repository.org_by_slug(session, "agri")
            assert org is not None
            settings = repr((org.allowed_domains, org.allowed_models, org.web_search_allowed))
            return int(events or 0), int(code_rows or 0), int(rules or 0), settings
    finally:
        await engine.dispose()


async def user_row(site: Site, email: str) -> User:
    engine = create_engine(site.autan.settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            user = await repository.user_by_email(session, email)
            assert user is not None
            return user
    finally:
        await engine.dispose()


async def csrf_of(browser: httpx.AsyncClient) -> str:
    return hidden((await browser.get("/")).text, "csrf_token")


async def test_users_page_search_role_and_disable(site: Site) -> None:
    member = PEOPLE["member_a"][0]
    async with site.signed_in("ref_a") as browser:
        home = await browser.get("/admin")
        assert home.status_code == 303 and home.headers["location"] == "/admin/orgs/agri/users"
        page = await browser.get("/admin/orgs/agri/users")
        assert page.status_code == 200 and member in page.text
        assert "Utilisateurs" in page.text and 'hx-get="/admin/orgs/agri/users"' in page.text
        assert PEOPLE["ref_b"][0] not in page.text
        found = await browser.get("/admin/orgs/agri/users", params={"q": "agent"})
        assert member in found.text and f"<td>{PEOPLE['ref_a'][0]}</td>" not in found.text
        csrf = hidden(page.text, "csrf_token")
        user = await user_row(site, member)
        target = f"/admin/orgs/agri/users/{user.id}"
        changed = await browser.post(target, data={"csrf_token": csrf, "role": "referent"})
        assert changed.status_code == 303
        assert (await user_row(site, member)).role == "referent"
        confirm = {"csrf_token": csrf, "is_active": "false", "confirmed": "yes"}
        disabled = await browser.post(target, data=confirm)
        assert disabled.status_code == 303
        assert not (await user_row(site, member)).is_active
        assert "Désactivé" in (await browser.get("/admin/orgs/agri/users")).text
        admin_role = await browser.post(target, data={"csrf_token": csrf, "role": "admin"})
        assert admin_role.status_code == 400 and 'role="alert"' in admin_role.text
        assert "Seuls les administrateurs" in admin_role.text
        bogus = await browser.post(target, data={"csrf_token": csrf, "role": "root"})
        assert bogus.status_code == 400 and "Choisissez un rôle" in bogus.text
        assert (await user_row(site, member)).role == "referent"


async def test_codes_page(site: Site) -> None:
    async with site.signed_in("ref_a") as browser:
        page = await browser.get("/admin/orgs/agri/codes")
        assert page.status_code == 200 and "Aucun code d'accès" in page.text.replace("&#39;", "'")
        csrf = hidden(page.text, "csrf_token")
        before = await snapshot(site)
        too_long = await browser.post(
            "/admin/orgs/agri/codes",
            data={"csrf_token": csrf, "label": "x" * 201, "uses": "3", "days": "10"},
        )
        assert too_long.status_code == 400 and "trop long (200 caractères" in too_long.text
        zero = await browser.post(
            "/admin/orgs/agri/codes",
            data={"csrf_token": csrf, "label": "Service juridique", "uses": "0", "days": "10"},
        )
        assert zero.status_code == 400 and 'value="Service juridique"' in zero.text
        assert await snapshot(site) == before
        created = await browser.post(
            "/admin/orgs/agri/codes",
            data={"csrf_token": csrf, "label": "Service juridique", "uses": "3", "days": "10"},
        )
        assert created.status_code == 303
        listing = (await browser.get("/admin/orgs/agri/codes")).text
        assert "Service juridique" in listing and "0 / 3" in listing
        assert re.search(r'class="access-code">[0-9A-Z]{4}(-[0-9A-Z]{4}){3}<', listing)
        code_id = listing.split("/admin/orgs/agri/codes/")[1].split("/revoke")[0]
    # Another referent of the same organisation sees the code's row, not the code.
    async with site.signed_in("admin") as admin:
        other = (await admin.get("/admin/orgs/agri/codes")).text
        assert "Service juridique" in other and "access-code" not in other
        assert 'id="org-picker"' in other and "culture" in other
        picked = await admin.get("/admin", params={"org": "culture"})
        assert picked.headers["location"] == "/admin/orgs/culture/users"
    async with site.signed_in("ref_a") as browser:
        csrf = await csrf_of(browser)
        revoked = await browser.post(
            f"/admin/orgs/agri/codes/{code_id}/revoke",
            data={"csrf_token": csrf, "confirmed": "yes"},
        )
        assert revoked.status_code == 303
        assert "Retiré" in (await browser.get("/admin/orgs/agri/codes")).text


async def test_settings_page_and_quotas(site: Site) -> None:
    async with site.signed_in("ref_a") as browser:
        page = await browser.get("/admin/orgs/agri/settings")
        assert page.status_code == 200
        assert "Petit modèle" in page.text and 'value="grand"' in page.text
        csrf = hidden(page.text, "csrf_token")
        saved = await browser.post(
            "/admin/orgs/agri/settings",
            data={
                "csrf_token": csrf,
                "domains": "agriculture.gouv.fr\n@AGRI.fr",
                "models": ["petit"],
            },
        )
        assert saved.status_code == 303
        assert saved.headers["location"] == "/admin/orgs/agri/settings?saved=1"
        engine = create_engine(site.autan.settings.resolved_database_url)
        async with session_factory(engine)() as session:
            org = await session.scalar(select(Organisation).where(Organisation.slug == "agri"))
            assert org is not None
            assert org.allowed_domains == ["agri.fr", "agriculture.gouv.fr"]
            assert org.allowed_models == ["petit"] and org.web_search_allowed is False
        await engine.dispose()
        shown = (await browser.get("/admin/orgs/agri/settings?saved=1")).text
        assert "Enregistré." in shown and "agri.fr\nagriculture.gouv.fr" in shown
        before = await snapshot(site)
        bad_domain = await browser.post(
            "/admin/orgs/agri/settings",
            data={"csrf_token": csrf, "domains": "x", "all_models": "on"},
        )
        assert bad_domain.status_code == 400 and "Vérifiez les domaines" in bad_domain.text
        bad_quota = await browser.post(
            "/admin/orgs/agri/quotas",
            data={"csrf_token": csrf, "role": "member", "requests_per_minute": "-1"},
        )
        assert bad_quota.status_code == 400 and "entre 0 et 1\u202f000\u202f000" in bad_quota.text
        assert await snapshot(site) == before
        quota = await browser.post(
            "/admin/orgs/agri/quotas",
            data={
                "csrf_token": csrf,
                "role": "member",
                "requests_per_minute": "12",
                "tokens_per_day": "",
            },
        )
        assert quota.status_code == 303
        assert 'value="12"' in (await browser.get("/admin/orgs/agri/settings")).text
        audit = await browser.get("/admin/orgs/agri/audit")
        assert audit.status_code == 200 and "org.updated" in audit.text.replace("_", ".")


async def test_audit_page_pages(site: Site) -> None:
    async with site.signed_in("ref_a") as browser:
        for _ in range(3):
            await browser.get("/login")
        page = await browser.get("/admin/orgs/agri/audit")
        assert page.status_code == 200 and ">Connexion</span>" in page.text
        assert "Plus anciens" not in page.text
        older = await browser.get("/admin/orgs/agri/audit", params={"before_id": 1})
        assert older.status_code == 200 and "Rien n" in older.text


@pytest.mark.parametrize("section", ["users", "codes", "settings", "audit", "invite", "audit.csv"])
async def test_other_organisations_and_members_are_refused(site: Site, section: str) -> None:
    async with site.signed_in("ref_b") as stranger:
        response = await stranger.get(f"/admin/orgs/agri/{section}")
        assert response.status_code == 404
        assert "Cette organisation n'existe pas" in response.text.replace("&#39;", "'")
        csrf = await csrf_of(stranger)
        for form in ("codes", "invite"):
            posted = await stranger.post(f"/admin/orgs/agri/{form}", data={"csrf_token": csrf})
            assert posted.status_code == 404, form
    async with site.signed_in("member_a") as member:
        response = await member.get(f"/admin/orgs/agri/{section}")
        assert response.status_code == 403 and "Accès refusé" in response.text
        assert (await member.get("/admin")).status_code == 403


async def test_every_form_refuses_a_missing_or_forged_csrf_token(site: Site) -> None:
    user = await user_row(site, PEOPLE["member_a"][0])
    forms: list[tuple[str, dict[str, str]]] = [
        ("/settings/keys", {"name": "x"}),
        (f"/settings/keys/{user.id}/revoke", {}),
        (f"/admin/orgs/agri/users/{user.id}", {"is_active": "false"}),
        ("/admin/orgs/agri/codes", {"label": "x", "uses": "1", "days": "1"}),
        (f"/admin/orgs/agri/codes/{user.id}/revoke", {}),
        ("/admin/orgs/agri/invite", {"email": "x@agriculture.gouv.fr"}),
        (f"/admin/orgs/agri/users/{user.id}/reset-link", {}),
        ("/admin/orgs/agri/settings", {"domains": "evil.fr", "all_models": "on"}),
        ("/admin/orgs/agri/quotas", {"requests_per_minute": "1"}),
        ("/logout", {}),
    ]
    async with site.signed_in("ref_a") as browser:
        before = await snapshot(site)
        for path, data in forms:
            for token in (None, "forged"):
                body = data if token is None else {**data, "csrf_token": token}
                response = await browser.post(path, data=body)
                assert response.status_code == 403, path
                assert "Ce formulaire a expiré" in response.text, path
        assert await snapshot(site) == before
        assert (await user_row(site, PEOPLE["member_a"][0])).is_active
        assert (await browser.get("/")).status_code == 200  # still signed in


async def _domains_of(site: Site) -> dict[str, list[str]]:
    engine = create_engine(site.autan.settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            orgs = await session.scalars(select(Organisation))
            return {org.slug: org.allowed_domains for org in orgs}
    finally:
        await engine.dispose()


async def test_a_domain_of_another_organisation_is_refused_on_the_page(site: Site) -> None:
    async with site.signed_in("ref_b") as browser:
        csrf = await csrf_of(browser)
        saved = await browser.post(
            "/admin/orgs/culture/settings",
            data={"csrf_token": csrf, "domains": "b.test", "all_models": "on"},
        )
        assert saved.status_code == 303
    capture = {"domains": "a.test\nb.test", "models": ["petit"], "web_access": "search"}
    async with site.signed_in("ref_a") as browser:
        csrf = await csrf_of(browser)
        before = await snapshot(site)
        taken = await browser.post(
            "/admin/orgs/agri/settings",
            data={"csrf_token": csrf, "move_domains": "on", **capture},
        )
        assert taken.status_code == 409
        assert "Ce domaine appartient déjà à une autre organisation : b.test." in taken.text
        # What the referent typed comes back, so that nothing has to be typed again.
        assert ">a.test\nb.test</textarea>" in taken.text
        assert re.search(r'id="web-access-search"[^>]*checked', taken.text)
        assert not re.search(r'id="all-models"[^>]*checked', taken.text)
        assert 'name="move_domains"' not in taken.text, "moving is for administrators"
        assert await snapshot(site) == before
        shared = await browser.post(
            "/admin/orgs/agri/settings",
            data={"csrf_token": csrf, "domains": "gouv.fr", "all_models": "on"},
        )
        assert shared.status_code == 400 and "gouv.fr est partagé" in shared.text
        assert await snapshot(site) == before
    async with site.signed_in("admin") as browser:
        csrf = await csrf_of(browser)
        asked = await browser.post(
            "/admin/orgs/agri/settings", data={"csrf_token": csrf, **capture}
        )
        assert asked.status_code == 409 and 'name="move_domains"' in asked.text
        moved = await browser.post(
            "/admin/orgs/agri/settings",
            data={"csrf_token": csrf, "move_domains": "on", **capture},
        )
        assert moved.status_code == 303
    domains = await _domains_of(site)
    assert (domains["agri"], domains["culture"]) == (["a.test", "b.test"], [])


async def _org(site: Site, slug: str) -> Organisation:
    engine = create_engine(site.autan.settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            org = await repository.org_by_slug(session, slug)
            assert org is not None
            return org
    finally:
        await engine.dispose()


async def test_web_access_is_three_way_and_research_limits_stay_within_the_platforms(
    site: Site,
) -> None:
    async with site.signed_in("ref_a") as browser:
        page = (await browser.get("/admin/orgs/agri/settings")).text
        # Existing organisations keep web search and deep research (the migration's default).
        assert re.search(r'id="web-access-research"[^>]*checked', page)
        assert 'placeholder="12"' in page  # the platform's page limit, shown in the field
        csrf = await csrf_of(browser)
        form = {"csrf_token": csrf, "all_models": "on", "web_access": "search"}
        limits = {"research_max_pages": "5", "research_max_runs_per_day": "3"}
        saved = await browser.post("/admin/orgs/agri/settings", data={**form, **limits})
        assert saved.status_code == 303, saved.text
        org = await _org(site, "agri")
        assert (org.web_search_allowed, org.deep_research_allowed) == (True, False)
        assert org.research_limits == {"max_pages": 5, "max_runs_per_day": 3}
        page = (await browser.get("/admin/orgs/agri/settings")).text
        assert re.search(r'id="web-access-search"[^>]*checked', page)
        assert re.search(r'id="research-max_pages"[^>]*value="5"', page, re.S)
        # Above the platform's maximum: refused in plain words, what was typed kept.
        too_high = {**limits, "research_max_pages": "500", "web_access": "off"}
        refused = await browser.post("/admin/orgs/agri/settings", data={**form, **too_high})
        assert refused.status_code == 400
        assert "Saisissez un nombre entre 1 et 12." in refused.text
        assert re.search(r'id="research-max_pages"[^>]*value="500"', refused.text, re.S)
        assert re.search(r'id="web-access-off"[^>]*checked', refused.text)
        assert (await _org(site, "agri")).research_limits == {"max_pages": 5, "max_runs_per_day": 3}
        off = await browser.post("/admin/orgs/agri/settings", data={**form, "web_access": "off"})
        assert off.status_code == 303
        org = await _org(site, "agri")
        assert (org.web_search_allowed, org.deep_research_allowed, org.research_limits) == (
            False,
            False,
            None,
        )
    # Another organisation's settings stay out of reach.
    async with site.signed_in("ref_b") as browser:
        csrf = await csrf_of(browser)
        stolen = await browser.post(
            "/admin/orgs/agri/settings", data={"csrf_token": csrf, "web_access": "research"}
        )
        assert stolen.status_code == 404
