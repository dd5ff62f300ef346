"""The referents' dashboards: feedback and usage of their organisation, nobody else's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts import service as accounts
from autan.admin import dashboards
from autan.core.db import utcnow
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
        summary = await dashboards.feedback_summary(session, a.org_id)
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


async def test_usage_per_day_and_model(session_maker: Factory) -> None:
    now = utcnow()
    async with session_maker() as session:
        a = await accounts.create_user(session, "a@agri.fr", org_slug="agri")
        b = await accounts.create_user(session, "b@agri.fr", org_slug="agri")
        c = await accounts.create_user(session, "c@culture.fr", org_slug="culture")
        rows = [
            (a, "petit", 100, 20, now),
            (a, "petit", 50, 10, now),
            (b, "grand", 1000, 200, now),
            (b, "petit", 7, 3, now - timedelta(days=2)),
            (a, "petit", 9999, 9999, now - timedelta(days=45)),  # outside the 30 days
            (c, "petit", 5555, 5555, now),  # another organisation
        ]
        for user, model, prompt, completion, at in rows:
            session.add(
                UsageRecord(
                    created_at=at,
                    user_id=user.id,
                    org_id=user.org_id,
                    endpoint="chat",
                    model=model,
                    status=200,
                    prompt_tokens=prompt,
                    completion_tokens=completion,
                )
            )
        await session.commit()
        summary = await dashboards.usage_summary(session, a.org_id)
    assert (summary.total.requests, summary.total.tokens, summary.total.active_users) == (
        4,
        1390,
        2,
    )
    assert len(summary.by_day) == 30 and summary.by_day[-1].label == now.date().isoformat()
    today, two_days_ago = summary.by_day[-1], summary.by_day[-3]
    assert (today.requests, today.prompt_tokens, today.completion_tokens) == (3, 1150, 230)
    assert today.active_users == 2
    assert (two_days_ago.requests, two_days_ago.active_users) == (1, 1)
    assert sum(d.requests for d in summary.by_day) == 4
    assert [(m.label, m.requests, m.tokens, m.active_users) for m in summary.by_model] == [
        ("petit", 3, 190, 2),
        ("grand", 1, 1200, 1),
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
        session.add(
            UsageRecord(
                user_id=member.id,
                org_id=member.org_id,
                endpoint="chat",
                model="petit",
                status=200,
                prompt_tokens=1200,
                completion_tokens=34,
            )
        )
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
        assert usage.status_code == 200 and "<caption>Par modèle</caption>" in usage.text
        assert "1 234" in usage.text  # tokens, with French digit grouping
        assert usage.text.count('<th scope="row">') == 1 + 30
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
