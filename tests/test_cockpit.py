"""The usage cockpit: rollups kept on write, figures per bucket and model, filters, pages, CSV."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts import service as accounts
from autan.accounts.models import Role
from autan.core.db import utcnow
from autan.devtools.demo import SeedPlan, seed
from autan.insights import cockpit
from autan.insights.charts import bars, nice_ceiling
from autan.insights.cockpit import Filters, Granularity
from autan.usage import rollup
from autan.usage.models import NO_ORG, UsageDay, UsageRecord, UsageUserDay, UsageUserPeriod
from autan.usage.recorder import UsageRecorder
from tests.support.library import add_conversation, database, user_by_email
from tests.support.web import PEOPLE, Site, run_site

Factory = async_sessionmaker[AsyncSession]


def _row(user: Any, at: datetime, **extra: Any) -> dict[str, Any]:
    row = {
        "created_at": at,
        "user_id": user.id,
        "org_id": user.org_id,
        "role": str(user.role),
        "api_key_id": None,
        "endpoint": "chat",
        "model": "petit",
        "status": 200,
        "prompt_tokens": 100,
        "completion_tokens": 10,
        "duration_ms": 5.0,
        "energy_kwh_min": None,
        "energy_kwh_max": None,
        "gwp_g_min": None,
        "gwp_g_max": None,
    }
    return row | extra


async def _days(session: AsyncSession) -> set[tuple[Any, ...]]:
    rows = await session.execute(
        select(
            UsageDay.day,
            UsageDay.org_id,
            UsageDay.model,
            UsageDay.endpoint,
            UsageDay.channel,
            UsageDay.role,
            UsageDay.requests,
            UsageDay.errors,
            UsageDay.prompt_tokens,
            UsageDay.completion_tokens,
        )
    )
    return {tuple(str(v) for v in row) for row in rows}


async def test_recorder_keeps_the_rollups_and_a_rebuild_agrees(session_maker: Factory) -> None:
    now = utcnow()
    async with session_maker() as session:
        a = await accounts.create_user(session, "a@agri.fr", org_slug="agri")
        b = await accounts.create_user(session, "b@agri.fr", org_slug="agri")
        key = accounts.new_key(a.id, "script", None).key
        session.add(key)
        await session.commit()
    recorder = UsageRecorder(session_maker, interval=60)
    batches = [
        [_row(a, now), _row(a, now, api_key_id=key.id), _row(b, now, status=503)],
        [_row(a, now), _row(b, now - timedelta(days=1), endpoint="chat.documents")],
    ]
    for batch in batches:
        for row in batch:
            recorder.record(**row)
        await recorder.flush()
    async with session_maker() as session:
        written = await _days(session)
        web_today = [r for r in written if r[0] == now.date().isoformat() and r[4] == "web"]
        # a twice and b once on the web today (b's failed), over two flushes: one rollup row.
        assert [r[6:] for r in web_today] == [("3", "1", "300", "30")]
        assert {r[4] for r in written} == {"web", "api"}
        users = await session.scalar(select(func.count()).select_from(UsageUserDay))
        assert users == 4  # a web, a api, b today; b yesterday
        await rollup.rebuild(session)
        await session.commit()
        rebuilt = await _days(session)
        assert rebuilt == written, (sorted(rebuilt), sorted(written))
        assert await session.scalar(select(func.count()).select_from(UsageRecord)) == 5


async def _fill(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    await session.execute(UsageRecord.__table__.insert(), rows)  # type: ignore[attr-defined]
    await rollup.add(session, rows)
    await session.commit()


async def test_overview_buckets_filters_users_and_feedback(session_maker: Factory) -> None:
    today = utcnow()
    monday = today - timedelta(days=today.weekday())
    async with session_maker() as session:
        a = await accounts.create_user(session, "a@agri.fr", org_slug="agri")
        b = await accounts.create_user(session, "b@agri.fr", org_slug="agri", role=Role.REFERENT)
        c = await accounts.create_user(session, "c@culture.fr", org_slug="culture")
        key = accounts.new_key(b.id, "script", None).key
        session.add(key)
        await session.commit()
        await _fill(
            session,
            [
                _row(a, today),
                _row(a, today, endpoint="chat.documents", prompt_tokens=2000),
                _row(b, today, model="grand", api_key_id=key.id),
                _row(b, today, endpoint="chat.title"),
                _row(a, monday, endpoint="chat.web"),
                _row(a, today - timedelta(days=40)),  # outside 30 days, inside 90
                _row(c, today, completion_tokens=7777),  # another organisation
            ],
        )
        await add_conversation(session, a, "t", [("q", "r")], model="petit", rating=1, at=today)
        org = a.org_id
        view = await cockpit.overview(session, Filters(org))
        assert (view.total.requests, view.total.active_users) == (5, 2)
        assert view.total.tokens == 100 * 4 + 2000 + 10 * 5
        assert (view.total.answers, view.total.with_documents, view.total.with_web) == (4, 1, 1)
        assert view.total.via_api == 1 and view.total.feedback == 1
        assert view.total.feedback_rate == pytest.approx(1 / 4)
        assert len(view.series) == 30 and view.series[-1].label == today.date().isoformat()
        assert sum(p.requests for p in view.series) == 5
        assert [(m.label, m.requests, m.active_users) for m in view.by_model] == [
            ("petit", 4, 2),
            ("grand", 1, 1),
        ]
        assert view.models == ["grand", "petit"]
        assert "7777" not in repr(view)  # culture's tokens are not agri's

        weeks = await cockpit.overview(session, Filters(org, 90, Granularity.WEEK))
        assert weeks.series[-1].label == monday.date().isoformat()
        assert weeks.series[-1].requests == 5
        assert sum(p.requests for p in weeks.series) == 6
        assert weeks.series[-1].active_users == 2
        months = await cockpit.overview(session, Filters(org, 365, Granularity.MONTH))
        assert all(date.fromisoformat(p.label).day == 1 for p in months.series)
        assert sum(p.requests for p in months.series) == 6 and months.total.active_users == 2

        api = await cockpit.overview(session, Filters(org, channel="api"))
        assert (api.total.requests, api.total.active_users, api.total.feedback) == (1, 1, 0)
        referents = await cockpit.overview(session, Filters(org, role="referent"))
        assert referents.total.requests == 2 and referents.total.answers == 1
        grand = await cockpit.overview(session, Filters(org, model="grand"))
        assert grand.total.requests == 1 and grand.total.feedback == 0
        platform = await cockpit.overview(session, Filters(None))
        assert platform.total.requests == 6 and platform.total.active_users == 3


def test_week_and_month_buckets_cover_the_period() -> None:
    first, last = date(2026, 1, 30), date(2026, 3, 2)
    assert cockpit.buckets(first, last, Granularity.MONTH) == [
        date(2026, 1, 1),
        date(2026, 2, 1),
        date(2026, 3, 1),
    ]
    weeks = cockpit.buckets(first, last, Granularity.WEEK)
    assert weeks[0] == date(2026, 1, 26) and weeks[-1] == date(2026, 3, 2)
    assert all(w.weekday() == 0 for w in weeks)
    assert len(cockpit.buckets(first, last, Granularity.DAY)) == 32


def test_chart_geometry() -> None:
    assert [nice_ceiling(v) for v in (0, 3, 10, 11, 420, 999)] == [1, 5, 10, 20, 500, 1000]
    chart = bars([("lundi", [30.0, 10.0]), ("mardi", [0.0, 0.0]), ("mercredi", [50.0, 0.0])])
    assert not chart.empty and [t.label for t in chart.y_ticks] == ["0", "25", "50"]
    first, second, third = chart.rects
    # Stacked: the second series sits on the first, and the tallest bar fills the plot.
    assert first.y == pytest.approx(second.y + second.height)
    assert third.height == pytest.approx(chart.baseline - 8)
    assert first.title == "lundi: 30" and len(chart.rects) == 3
    assert bars([("x", [0.0])]).empty
    assert bars([("x", [0.25])], percent=True).y_ticks[-1].label == "50 %"
    assert bars([("x", [0.8])], percent=True).y_ticks[-1].label == "100 %"


async def test_weekly_and_monthly_people_match_the_daily_rollup(session_maker: Factory) -> None:
    """The long views count people from `usage_user_periods`; the counts are those of the
    user-day rollup bucketed by hand (the rollup rebuilt from the rows says the same)."""
    plan = SeedPlan("periods", users=25, requests=2500, days=400)
    async with session_maker() as session:
        await seed(session, plan)
        org = (await session.execute(select(UsageDay.org_id).limit(1))).scalar_one()
        pairs = list(
            await session.execute(
                select(UsageUserDay.day, UsageUserDay.user_id, UsageUserDay.model).where(
                    UsageUserDay.org_id == org
                )
            )
        )
        views = [(90, Granularity.WEEK), (365, Granularity.MONTH)]
        for days, granularity in views:
            view = await cockpit.overview(session, Filters(org, days, granularity))
            first = view.filters.first_day
            assert first == cockpit.bucket_of(first, granularity), "whole buckets"
            expected: dict[str, set[uuid.UUID]] = {}
            for day, user, _model in pairs:
                day = day if isinstance(day, date) else date.fromisoformat(str(day))
                if day >= first:
                    expected.setdefault(cockpit.bucket_of(day, granularity).isoformat(), set())
                    expected[cockpit.bucket_of(day, granularity).isoformat()].add(user)
            counted = {p.label: p.active_users for p in view.series if p.active_users}
            assert counted == {label: len(users) for label, users in expected.items()}
            assert view.total.active_users == len(set().union(*expected.values()))
        before = await session.execute(select(func.count(), func.sum(UsageUserPeriod.requests)))
        await rollup.rebuild(session)
        after = await session.execute(select(func.count(), func.sum(UsageUserPeriod.requests)))
        assert before.one() == after.one()


async def test_demo_seed_fills_the_rollups(session_maker: Factory) -> None:
    plan = SeedPlan("demo", users=30, requests=3000, days=60)
    async with session_maker() as session:
        report = await seed(session, plan)
        assert (report.users, report.requests) == (30, 3000) and report.feedback > 0
        total = await session.scalar(select(func.sum(UsageDay.requests)))
        assert total == await session.scalar(select(func.count()).select_from(UsageRecord))
        assert total == 3000
        org = (await session.execute(select(UsageRecord.org_id).limit(1))).scalar_one()
        view = await cockpit.overview(session, Filters(org, 90, Granularity.WEEK))
        assert view.total.requests == sum(p.requests for p in view.series)
        assert 0 < view.total.active_users <= 30 and view.total.feedback == report.feedback
        assert {m.label for m in view.by_model} == set(plan.models)
    async with session_maker() as session:
        again = await seed(session, plan)  # the people are reused, the usage adds up
        assert again.users == 30
        assert await session.scalar(select(func.sum(UsageDay.requests))) == 6000


# -- Pages ----------------------------------------------------------------------------------


@pytest.fixture
async def site(tmp_path: Path, sqlite_databases: object) -> AsyncIterator[Site]:
    database_url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    async with run_site(tmp_path, database_url) as running:
        yield running


async def test_cockpit_page_csv_and_scopes(site: Site) -> None:
    now = datetime.now(UTC)
    async with database(site) as session:
        member = await user_by_email(session, PEOPLE["member_a"][0])
        stranger = await user_by_email(session, PEOPLE["ref_b"][0])
        await _fill(
            session,
            [
                _row(
                    member,
                    now,
                    completion_tokens=1134,
                    energy_kwh_min=0.001,
                    energy_kwh_max=0.003,
                    gwp_g_min=1.0,
                    gwp_g_max=3.0,
                ),
                _row(member, now, model="grand", endpoint="chat.documents"),
                _row(stranger, now, model="secret-model-of-culture"),
            ],
        )
    async with site.signed_in("ref_a") as referent:
        page = await referent.get("/admin/orgs/agri/usage")
        assert page.status_code == 200
        text = page.text
        assert text.count("<svg") == 5 and text.count('role="img"') == 5
        # Five plots, and the footprint per model (this period has an estimate).
        assert text.count("<details>") == 6 and "Télécharger les chiffres (CSV)" in text
        assert '<th scope="row">grand</th>' in text and "secret-model-of-culture" not in text
        assert "Toute la plateforme" not in text  # the scope is an admin's choice
        weekly = await referent.get("/admin/orgs/agri/usage?days=90&by=week&channel=web")
        assert weekly.status_code == 200 and 'value="week" selected' in weekly.text
        forced = await referent.get("/admin/orgs/agri/usage?scope=platform")
        assert "secret-model-of-culture" not in forced.text
        bad = await referent.get("/admin/orgs/agri/usage?days=0")
        assert bad.status_code in (400, 422)
        export = await referent.get("/admin/orgs/agri/usage.csv?days=30&table=models")
        assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(export.text)))
        assert {r["model"]: int(r["requests"]) for r in rows} == {"petit": 1, "grand": 1}
        assert rows[0].keys() >= {"requests", "active_users", "feedback"}
        # Energy (kWh) and CO2 (kg CO2eq): the middle of EcoLogits' range, summed.
        impacts = {r["model"]: (float(r["energy_kwh"]), float(r["kgco2eq"])) for r in rows}
        assert impacts == {"petit": (0.002, 0.002), "grand": (0.0, 0.0)}
        assert "0,002" in text, "the data tables show the energy too"
        assert "email" not in export.text and "@" not in export.text  # counts, nobody's name
        series = await referent.get("/admin/orgs/agri/usage.csv")
        days = list(csv.DictReader(io.StringIO(series.text)))
        assert len(days) == 30 and sum(int(d["requests"]) for d in days) == 2
        assert sum(float(d["energy_kwh"]) for d in days) == pytest.approx(0.002)
        assert (await referent.get("/admin/orgs/culture/usage.csv")).status_code == 404
    async with site.signed_in("member_a") as browser:
        assert (await browser.get("/admin/orgs/agri/usage.csv")).status_code == 403
    async with site.signed_in("admin") as admin:
        platform = await admin.get("/admin/orgs/agri/usage?scope=platform")
        assert platform.status_code == 200 and "secret-model-of-culture" in platform.text
        assert "Toute la plateforme" in platform.text


def test_uuid_sentinel_is_not_an_org() -> None:
    assert uuid.UUID(int=0) == NO_ORG
    days, users = rollup.aggregate(
        [
            {
                "created_at": datetime(2026, 5, 1, 23, 30, tzinfo=UTC),
                "org_id": None,
                "user_id": None,
                "model": "m",
                "endpoint": "embeddings",
            }
        ]
    )
    assert days[0]["org_id"] == NO_ORG and days[0]["role"] == "unknown" and users == []
