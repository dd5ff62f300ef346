"""The referents' dashboards: feedback and usage of their organisation, nobody else's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts import service as accounts
from autan.core.db import utcnow
from autan.insights import feedback
from autan.usage import rollup
from autan.usage.models import UsageRecord
from tests.support.library import add_conversation, database, user_by_email
from tests.support.web import PEOPLE, Site, run_site

Factory = async_sessionmaker[AsyncSession]


async def test_feedback_per_model_and_week(session_maker: Factory) -> None:
    now = utcnow()
    async with session_maker() as session:
        a = await accounts.create_user(session, "a@agri.fr", org_slug="agri")
        b = await accounts.create_user(session, "b@agri.fr", org_slug="agri")
        c = await accounts.create_user(session, "c@culture.fr", org_slug="culture")
        ratings = [
            (a, "petit", 1, "Très clair", now),
            (a, "petit", -1, "", now),
            (b, "petit", 1, "", now - timedelta(days=7)),
            (b, "grand", -1, "Hors sujet", now - timedelta(days=8)),
            (a, "grand", 1, "", now - timedelta(weeks=20)),  # counted per model, not per week
            (c, "petit", -1, "Autre organisation", now),
        ]
        for user, model, rating, comment, at in ratings:
            await add_conversation(
                session,
                user,
                "t",
                [("question confidentielle", "réponse confidentielle")],
                model=model,
                rating=rating,
                comment=comment,
                at=at,
            )
        summary = await feedback.feedback_summary(session, a.org_id)
    assert (summary.overall.up, summary.overall.down) == (3, 2)
    assert [(r.label, r.up, r.down) for r in summary.by_model] == [
        ("grand", 1, 1),
        ("petit", 2, 1),
    ]
    assert summary.by_model[1].share_positive == pytest.approx(2 / 3)
    assert sum(r.total for r in summary.by_week) == 4
    monday = (now - timedelta(days=now.weekday())).date().isoformat()
    assert summary.by_week[0].label == monday and summary.by_week[0].total == 2
    assert all(r.label <= monday for r in summary.by_week)
    assert [(c.comment, c.rating, c.model) for c in summary.comments] == [
        ("Très clair", 1, "petit"),
        ("Hors sujet", -1, "grand"),
    ]


# -- Pages ----------------------------------------------------------------------------------


@pytest.fixture
async def site(tmp_path: Path, sqlite_databases: object) -> AsyncIterator[Site]:
    database_url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    async with run_site(tmp_path, database_url) as running:
        yield running


async def test_dashboard_pages_and_who_sees_them(site: Site) -> None:
    async with database(site) as session:
        member = await user_by_email(session, PEOPLE["member_a"][0])
        await add_conversation(
            session,
            member,
            "Dossier",
            [("Question confidentielle", "Réponse confidentielle")],
            rating=-1,
            comment="Trop long",
        )
        row = {
            "created_at": utcnow(),
            "user_id": member.id,
            "org_id": member.org_id,
            "role": "member",
            "endpoint": "chat",
            "model": "petit",
            "status": 200,
            "prompt_tokens": 1200,
            "completion_tokens": 34,
        }
        session.add(UsageRecord(**row))
        await rollup.add(session, [row])  # as the usage recorder does on every flush
        await session.commit()
    async with site.signed_in("ref_a") as referent:
        users = await referent.get("/admin/orgs/agri/users")
        for section in ("feedback", "usage", "charter"):
            assert f'href="/admin/orgs/agri/{section}"' in users.text
        feedback = await referent.get("/admin/orgs/agri/feedback")
        assert feedback.status_code == 200
        assert "Trop long" in feedback.text and "👎 Pas utile" in feedback.text
        assert "confidentielle" not in feedback.text  # never the conversation's content
        assert "<caption>Avis par modèle</caption>" in feedback.text
        assert '<th scope="row">petit</th>' in feedback.text and "0 %" in feedback.text
        usage = await referent.get("/admin/orgs/agri/usage")
        assert usage.status_code == 200 and "Par modèle" in usage.text
        assert "1 234" in usage.text  # tokens, with French digit grouping
        assert '<th scope="row">petit</th>' in usage.text
        assert (await referent.get("/admin/orgs/culture/feedback")).status_code == 404
        assert (await referent.get("/admin/orgs/culture/usage")).status_code == 404
        assert (await referent.get("/admin/orgs/nowhere/usage")).status_code == 404
    async with site.signed_in("member_a") as browser:
        for section in ("feedback", "usage", "charter"):
            assert (await browser.get(f"/admin/orgs/agri/{section}")).status_code == 403
    async with site.signed_in("ref_b") as stranger:
        for section in ("feedback", "usage", "charter"):
            assert (await stranger.get(f"/admin/orgs/agri/{section}")).status_code == 404
        empty = await stranger.get("/admin/orgs/culture/feedback")
        assert empty.status_code == 200 and "Aucun avis pour l" in empty.text
    async with site.signed_in("admin") as admin:
        assert "Trop long" in (await admin.get("/admin/orgs/agri/feedback")).text
        assert (await admin.get("/admin/orgs/culture/usage")).status_code == 200
