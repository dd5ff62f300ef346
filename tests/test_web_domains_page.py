"""The organisation's web domain lists and web search quotas on the referent's settings page:
one pattern a line, normalised, refused in plain words with what was typed kept, audited
under their own action; the search quotas stay within the platform's."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from autan.accounts import repository
from autan.accounts import service as accounts
from autan.accounts.models import AuditEvent, Organisation
from autan.core.db import create_engine, session_factory
from autan.websearch.domain_patterns import (
    MAX_PATTERNS,
    DomainPatternInvalid,
    TooManyDomainPatterns,
    parse_patterns,
)
from tests.support.web import PEOPLE, Site, hidden, run_site

PLATFORM: dict[str, object] = {"enabled": True, "requests_per_minute": 0, "searches_per_minute": 5}


@pytest.fixture
async def site(tmp_path: Path, database_url: str) -> AsyncIterator[Site]:
    async with run_site(tmp_path, database_url, quotas=PLATFORM) as running:
        yield running


async def org_row(site: Site) -> Organisation:
    engine = create_engine(site.autan.settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            org = await repository.org_by_slug(session, "agri")
            assert org is not None
            return org
    finally:
        await engine.dispose()


async def audit_rows(site: Site, action: str) -> list[AuditEvent]:
    engine = create_engine(site.autan.settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            return list(
                await session.scalars(select(AuditEvent).where(AuditEvent.action == action))
            )
    finally:
        await engine.dispose()


def field_text(page: str, field_id: str) -> str:
    """What a textarea of the page holds."""
    found = re.search(rf'<textarea id="{field_id}"[^>]*>(.*?)</textarea>', page, re.S)
    assert found is not None, field_id
    return html.unescape(found.group(1))


async def post(browser: httpx.AsyncClient, **fields: str) -> httpx.Response:
    csrf = hidden((await browser.get("/")).text, "csrf_token")
    form: dict[str, Any] = {"csrf_token": csrf, "all_models": "on", "web_access": "research"}
    return await browser.post("/admin/orgs/agri/settings", data={**form, **fields})


async def test_domain_lists_are_saved_normalised_shown_and_audited(site: Site) -> None:
    async with site.signed_in("ref_a") as browser:
        page = (await browser.get("/admin/orgs/agri/settings")).text
        # The wildcard rules are explained on the page, in French first.
        assert "*.gouv.fr couvre tous les sites" in html.unescape(page)
        assert "Seulement ces sites" in page and "Jamais ces sites" in page
        saved = await post(
            browser,
            web_allowed_domains="*.GOUV.fr\nlegifrance.gouv.fr.\n\n*.gouv.fr\nÉducation.fr",
            web_blocked_domains="exemple.com, 10.0.0.7",
            searches_per_day="40",
        )
        assert saved.status_code == 303, saved.text
        org = await org_row(site)
        assert org.web_allowed_domains == ["*.gouv.fr", "legifrance.gouv.fr", "xn--ducation-90a.fr"]
        assert org.web_blocked_domains == ["exemple.com", "10.0.0.7"]
        assert org.research_limits == {"searches_per_day": 40}
        page = (await browser.get("/admin/orgs/agri/settings")).text
        assert field_text(page, "web-allowed-domains").split("\n")[:2] == [
            "*.gouv.fr",
            "legifrance.gouv.fr",
        ]
        assert re.search(r'id="searches-per-day"[^>]*value="40"', page, re.S)
        events = await audit_rows(site, "web_domains_updated")
        assert len(events) == 1
        assert events[0].details["before"] == {
            "web_allowed_domains": None,
            "web_blocked_domains": None,
        }
        assert events[0].details["after"]["web_blocked_domains"] == ["exemple.com", "10.0.0.7"]
        audit = await browser.get("/admin/orgs/agri/audit")
        assert "Domaines de la recherche web modifiés" in audit.text
        # Saving the same lists again is no change of the lists.
        assert (await post(browser, web_allowed_domains="*.gouv.fr")).status_code == 303
        assert len(await audit_rows(site, "web_domains_updated")) == 2
        assert (await post(browser, web_allowed_domains="*.gouv.fr")).status_code == 303
        assert len(await audit_rows(site, "web_domains_updated")) == 2
        # Empty lists: every site again.
        assert (await post(browser)).status_code == 303
        org = await org_row(site)
        assert (org.web_allowed_domains, org.web_blocked_domains) == (None, None)


async def test_a_line_that_is_not_a_domain_is_refused_and_what_was_typed_stays(
    site: Site,
) -> None:
    typed = "*.gouv.fr\nhttps://www.legifrance.gouv.fr/loda"
    async with site.signed_in("ref_a") as browser:
        refused = await post(browser, web_allowed_domains=typed, web_blocked_domains="pub.fr")
        assert refused.status_code == 400
        text = html.unescape(refused.text)
        assert (
            "« Seulement ces sites », ligne 2 : « https://www.legifrance.gouv.fr/loda » "
            "n'est pas un domaine. "
            "Écrivez un domaine par ligne" in text
        )
        assert field_text(refused.text, "web-allowed-domains") == typed
        assert field_text(refused.text, "web-blocked-domains") == "pub.fr"
        too_high = await post(browser, searches_per_minute="6")
        assert too_high.status_code == 400
        assert "Saisissez un nombre entre 1 et 5." in html.unescape(too_high.text)
        assert re.search(r'id="searches-per-minute"[^>]*value="6"', too_high.text, re.S)
    org = await org_row(site)
    assert (org.web_allowed_domains, org.research_limits) == (None, None)
    assert await audit_rows(site, "web_domains_updated") == []
    # Another organisation's referent cannot change them.
    async with site.signed_in("ref_b") as stranger:
        csrf = hidden((await stranger.get("/")).text, "csrf_token")
        stolen = await stranger.post(
            "/admin/orgs/agri/settings",
            data={"csrf_token": csrf, "web_access": "research", "web_blocked_domains": "a.fr"},
        )
        assert stolen.status_code == 404
    assert (await org_row(site)).web_blocked_domains is None


async def referent_key(site: Site) -> str:
    engine = create_engine(site.autan.settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            return (await accounts.create_api_key(session, PEOPLE["ref_a"][0])).secret
    finally:
        await engine.dispose()


async def test_the_api_checks_the_lists_the_same_way(site: Site) -> None:
    headers = {"Authorization": f"Bearer {await referent_key(site)}"}
    async with httpx.AsyncClient(base_url=site.autan.base_url, headers=headers) as client:
        refused = await client.patch(
            "/api/orgs/agri", json={"web_allowed_domains": ["gouv.fr", "gouv.fr/loda"]}
        )
        assert refused.status_code == 400, refused.text
        error = refused.json()["error"]
        assert error["code"] == "web_domain_invalid" and error["param"] == "web_allowed_domains"
        assert error["message"].startswith("“Only these sites”, line 2: “gouv.fr/loda”")
        saved = await client.patch("/api/orgs/agri", json={"web_blocked_domains": ["*.Pub.fr"]})
        assert saved.status_code == 200, saved.text
        assert saved.json()["web_blocked_domains"] == ["*.pub.fr"]
    org = await org_row(site)
    assert (org.web_allowed_domains, org.web_blocked_domains) == (None, ["*.pub.fr"])
    assert len(await audit_rows(site, "web_domains_updated")) == 1


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        (["Legifrance.Gouv.FR"], ["legifrance.gouv.fr"]),
        (["*.fr", "intranet"], ["*.fr", "intranet"]),
        (["[::1]", "192.168.1.10"], ["::1", "192.168.1.10"]),
        ([], None),
    ],
)
def test_patterns_that_are_domains(typed: list[str], kept: list[str] | None) -> None:
    assert parse_patterns(typed, "web_allowed_domains") == kept


@pytest.mark.parametrize(
    "typed",
    ["https://gouv.fr", "gouv.fr/loda", "a*.gouv.fr", "*.*.fr", "-x.fr", "a b.fr", "*.10.0.0.1"],
)
def test_patterns_that_are_not(typed: str) -> None:
    with pytest.raises(DomainPatternInvalid) as refused:
        parse_patterns(["ok.fr", typed], "web_blocked_domains")
    assert refused.value.values["line"] == 2 and refused.value.param == "web_blocked_domains"


def test_lists_are_bounded() -> None:
    with pytest.raises(TooManyDomainPatterns):
        parse_patterns([f"s{n}.fr" for n in range(MAX_PATTERNS + 1)], "web_allowed_domains")
