"""The audit JSON API speaks the words of the audit page: names, labels, filters, pages."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from autan.accounts.models import User
from tests.support.web import PEOPLE, Site, run_site
from tests.test_audit_log import seed
from tests.test_people import in_db


@pytest.fixture
async def site(tmp_path: Path, database_url: str) -> AsyncIterator[Site]:
    async with run_site(tmp_path, database_url) as running:
        yield running


async def test_the_api_names_who_did_what_on_what(site: Site) -> None:
    await seed(site)
    referent = (await in_db(site, select(User).where(User.email == PEOPLE["ref_a"][0])))[0]
    assert isinstance(referent, User)
    async with site.signed_in("ref_a") as browser:
        french = (await browser.get("/api/orgs/agri/audit", params={"limit": 500})).json()
        browser.cookies.set("lang", "en")
        english = (await browser.get("/api/orgs/agri/audit", params={"limit": 500})).json()
    reset = next(e for e in french if e["action"] == "reset_link_created")
    assert reset["action_label"] == "Lien de réinitialisation créé"
    assert reset["actor"] == "Rémi Référent <ref@agriculture.gouv.fr>"
    assert reset["actor_id"] == str(referent.id) and reset["org_id"] == str(referent.org_id)
    assert reset["target"] == "parti@agriculture.gouv.fr" and reset["target_deleted"] is True
    assert reset["organisation"] and datetime.fromisoformat(reset["at"]).tzinfo is not None
    changed = next(e for e in french if e["action"] == "user_updated")
    assert changed["actor"] == "système" and changed["actor_id"] is None
    assert next(e for e in english if e["action"] == "user_updated")["actor"] == "system"
    labels = {e["action"]: e["action_label"] for e in english}
    assert labels["reset_link_created"] == "Password reset link created"


async def test_the_api_filters_and_pages_like_the_page(site: Site) -> None:
    await seed(site)
    async with site.signed_in("ref_a") as browser:
        logins = (
            await browser.get("/api/orgs/agri/audit", params={"action": "login", "limit": 500})
        ).json()
        assert logins and {e["action"] for e in logins} == {"login"}
        by_actor = (
            await browser.get("/api/orgs/agri/audit", params={"actor": "rémi", "limit": 500})
        ).json()
        assert by_actor and all("Rémi" in e["actor"] for e in by_actor)
        first = (await browser.get("/api/orgs/agri/audit", params={"limit": 20})).json()
        second = (
            await browser.get(
                "/api/orgs/agri/audit", params={"limit": 20, "before_id": first[-1]["id"]}
            )
        ).json()
        assert len(first) == 20 and second and second[0]["id"] < first[-1]["id"]
        today = datetime.now(UTC).date()
        recent = await browser.get("/api/orgs/agri/audit", params={"since": today.isoformat()})
        assert recent.is_success and recent.json()
        assert all(datetime.fromisoformat(e["at"]).date() >= today for e in recent.json())
        bad_day = await browser.get("/api/orgs/agri/audit", params={"since": "31/01/2026"})
        bad_action = await browser.get("/api/orgs/agri/audit", params={"action": "nope"})
        everywhere = await browser.get("/api/orgs/agri/audit", params={"everywhere": "true"})
    assert bad_day.status_code == 400 and bad_day.json()["error"]["param"] == "since"
    assert bad_action.status_code == 400 and bad_action.json()["error"]["param"] == "action"
    assert everywhere.status_code == 403  # every organisation's rows: administrators only
    async with site.signed_in("admin") as admin:
        every = (
            await admin.get("/api/orgs/agri/audit", params={"everywhere": "true", "limit": 500})
        ).json()
    assert {e["org_id"] for e in every} > {e["org_id"] for e in first}
    assert all(uuid.UUID(e["org_id"]) for e in every if e["org_id"])
