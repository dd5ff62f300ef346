"""The audit log for people: who, what in words, on what by name; filters, pages, CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from autan.accounts import audit, audit_log, service
from autan.accounts.models import AuditEvent, Role, User
from autan.core.db import create_engine, session_factory, utcnow
from tests.support.web import PEOPLE, Site, hidden, run_site


@pytest.fixture
async def site(tmp_path: Path, database_url: str) -> AsyncIterator[Site]:
    async with run_site(tmp_path, database_url) as running:
        yield running


async def seed(site: Site) -> None:
    """An invitation by the referent, a change by the command line, a deleted person, old rows."""
    engine = create_engine(site.autan.settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            referent = await session.scalar(select(User).where(User.email == PEOPLE["ref_a"][0]))
            assert referent is not None
            # Older rows first: the log pages by id, as rows are written in time order.
            for days in range(60):
                session.add(
                    AuditEvent(
                        at=utcnow() - timedelta(days=40, minutes=days),
                        action="login",
                        actor_id=referent.id,
                        org_id=referent.org_id,
                        details={},
                    )
                )
            await service.create_user(session, "parti@agriculture.gouv.fr", org_slug="agri")
            await service.update_user_by_email(session, PEOPLE["member_a"][0], role=Role.REFERENT)
            gone = await session.scalar(
                select(User).where(User.email == "parti@agriculture.gouv.fr")
            )
            assert gone is not None
            audit.record(
                session,
                audit.Action.RESET_LINK_CREATED,
                actor_id=referent.id,
                org_id=gone.org_id,
                target=gone.email,
            )
            await session.commit()
            await session.execute(delete(User).where(User.id == gone.id))
            await session.commit()
            await session.execute(
                update(User).where(User.id == referent.id).values(display_name="Rémi Référent")
            )
            await session.commit()
    finally:
        await engine.dispose()


def rows_of(html: str) -> str:
    """The table's body, without the filters' list of actions."""
    return html.split("<tbody>")[1].split("</tbody>")[0]


async def test_who_did_what_on_what(site: Site) -> None:
    await seed(site)
    async with site.signed_in("ref_a") as browser:
        page = (await browser.get("/admin/orgs/agri/audit")).text
        assert "Rémi Référent &lt;ref@agriculture.gouv.fr&gt;" in page
        assert "<em>système</em>" in page  # the command line changed a role
        assert "Compte modifié" in page and "Lien de réinitialisation créé" in page
        assert "parti@agriculture.gouv.fr <em>(supprimé)</em>" in page
        table = page.split("<tbody>")[1]
        assert "user_updated" not in table.replace('title="user_updated"', "")
        # 50 a page; the next page keeps the filters.
        filtered = await browser.get("/admin/orgs/agri/audit", params={"action": "login"})
        assert filtered.status_code == 200 and "Compte modifié" not in rows_of(filtered.text)
        assert filtered.text.count("<tr>") == 51  # header + 50 rows
        older = filtered.text.split('href="/admin/orgs/agri/audit?')[-1].split('"')[0]
        assert "action=login" in older and "before_id=" in older
        rest = await browser.get("/admin/orgs/agri/audit?" + older.replace("&amp;", "&"))
        assert rest.text.count("<tr>") == 1 + 61 - 50
        by_actor = await browser.get("/admin/orgs/agri/audit", params={"actor": "rémi"})
        assert "<em>système</em>" not in rows_of(by_actor.text)
        assert "Connexion" in rows_of(by_actor.text)
        today = utcnow().date()
        recent = await browser.get(
            "/admin/orgs/agri/audit", params={"action": "login", "since": today.isoformat()}
        )
        assert recent.text.count("<tr>") == 2  # header + this sign-in only
        month_ago = (today - timedelta(days=30)).isoformat()
        old = await browser.get(
            "/admin/orgs/agri/audit", params={"action": "login", "until": month_ago}
        )
        assert old.text.count("<tr>") == 51
        bad = await browser.get("/admin/orgs/agri/audit", params={"action": "nope"})
        assert bad.status_code == 400 and "Choisissez une action" in bad.text
        exported = await browser.get(
            "/admin/orgs/agri/audit.csv", params={"action": "login", "since": today.isoformat()}
        )
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("text/csv")
        cells = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
        assert cells[0] == [
            "Date",
            "Auteur",
            "Action",
            "Cible",
            "Adresse IP",
            "Code",
            "Organisation",
        ]
        assert len(cells) == 2 and cells[1][1].startswith("Rémi Référent")
        assert cells[1][2] == "Connexion" and cells[1][5] == "login"
        browser.cookies.set("lang", "en")
        everything = await browser.get("/admin/orgs/agri/audit.csv")
        rows = list(csv.reader(io.StringIO(everything.text.lstrip("\ufeff"))))
        assert rows[0][1] == "Actor" and ["system"] in [[r[1]] for r in rows]
        assert any(r[3] == "parti@agriculture.gouv.fr (deleted)" for r in rows)


async def test_only_admins_read_every_organisation(site: Site) -> None:
    async with site.signed_in("ref_b"):
        pass  # a sign-in recorded in culture
    async with site.signed_in("ref_a") as referent:
        page = await referent.get("/admin/orgs/agri/audit")
        assert 'name="everywhere"' not in page.text
        for path in ("/admin/orgs/agri/audit", "/admin/orgs/agri/audit.csv"):
            refused = await referent.get(path, params={"everywhere": "true"})
            assert refused.status_code == 403, path
    async with site.signed_in("admin") as admin:
        own = rows_of((await admin.get("/admin/orgs/agri/audit")).text)
        assert PEOPLE["ref_a"][0] in own and PEOPLE["ref_b"][0] not in own
        everywhere = await admin.get(
            "/admin/orgs/agri/audit", params={"everywhere": "true", "action": "login"}
        )
        rows = rows_of(everywhere.text)
        assert PEOPLE["ref_a"][0] in rows and PEOPLE["ref_b"][0] in rows and "culture" in rows
        assert "everywhere=true" in everywhere.text.split("audit.csv")[1].split('"')[0]


def test_every_action_has_a_label_in_both_languages() -> None:
    from autan.web.templating import Templates

    templates = Templates()
    assert set(audit_log.LABELS) == {a.value for a in audit.Action}
    for label in audit_log.LABELS.values():
        assert templates.gettext("fr", label) != label, label


def test_csv_cells_cannot_run_as_formulas() -> None:
    row = audit_log.AuditRow(
        id=1,
        at=utcnow(),
        action="login",
        label="Signed in",
        actor="=HYPERLINK(1)",
        actor_is_system=False,
        target="+cmd",
        target_deleted=False,
        ip="",
    )
    text = audit_log.to_csv([row], lambda m: m)
    assert "'=HYPERLINK(1)" in text and "'+cmd" in text


async def test_the_new_forms_refuse_a_missing_csrf_token(site: Site) -> None:
    async with site.signed_in("ref_a") as browser:
        member = hidden((await browser.get("/admin/orgs/agri/users")).text, "csrf_token")
        assert member
        engine = create_engine(site.autan.settings.resolved_database_url)
        async with session_factory(engine)() as session:
            user = await session.scalar(select(User).where(User.email == PEOPLE["member_a"][0]))
        await engine.dispose()
        assert user is not None
        for path in ("/admin/orgs/agri/invite", f"/admin/orgs/agri/users/{user.id}/reset-link"):
            for data in ({"email": "x@exemple.fr"}, {"email": "x@exemple.fr", "csrf_token": "f"}):
                response = await browser.post(path, data=data)
                assert response.status_code == 403 and "Ce formulaire a expiré" in response.text
