"""Questionnaires: written by a referent, answered or dismissed by members, results counted."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from autan.accounts import repository
from autan.accounts.models import AuditEvent
from autan.arena import service as arena
from autan.core.db import create_engine, session_factory
from autan.devtools.demo import DEFAULT_MODELS, SeedPlan, seed
from autan.questionnaires import service
from autan.questionnaires.models import Participation, QuestionnaireAnswer
from autan.questionnaires.results import results
from tests.support.web import Site, hidden, run_site

MARKER = "réponse-libre-9K2"


@pytest.fixture
async def site(tmp_path: Path, database_url: str) -> AsyncIterator[Site]:
    async with run_site(tmp_path, database_url) as running:
        yield running


def questionnaire_form(csrf: str, **extra: str) -> dict[str, str]:
    return {
        "csrf_token": csrf,
        "title": "Votre avis sur Autan",
        "period": "monthly",
        "anonymous": "on",
        "text0": "L'assistant vous fait gagner du temps.",
        "kind0": "likert",
        "text1": "Pour quoi l'utilisez-vous ?",
        "kind1": "multiple",
        "options1": "Courriers\nSynthèses\nTraductions",
        "text2": "Une suggestion ?",
        "kind2": "text",
    } | extra


async def test_anonymous_questionnaire_round_trip(site: Site, database_url: str) -> None:
    async with site.signed_in("ref_a") as referent:
        page = await referent.get("/admin/orgs/agri/questionnaires")
        assert page.status_code == 200
        csrf = hidden(page.text, "csrf_token")
        refused = await referent.post(
            "/admin/orgs/agri/questionnaires", data=questionnaire_form(csrf, title=" ")
        )
        assert refused.status_code == 400
        assert "Donnez un titre" in refused.text
        assert "Synthèses" in refused.text  # what was typed is kept
        created = await referent.post(
            "/admin/orgs/agri/questionnaires", data=questionnaire_form(csrf)
        )
        assert created.status_code == 303, created.text
        results_url = created.headers["location"]
    questionnaire_id = results_url.rsplit("/", 1)[1]

    async with site.signed_in("member_a") as member:
        banner = await member.get("/questionnaires/banner")
        assert "Votre avis sur Autan" in banner.text
        form = await member.get(f"/questionnaires/{questionnaire_id}")
        assert "anonyme" in form.text
        csrf = hidden(form.text, "csrf_token")
        wrong = await member.post(
            f"/questionnaires/{questionnaire_id}",
            data={"csrf_token": csrf, "q0": "9", "q2": "gardé"},
        )
        assert wrong.status_code == 400
        assert "gardé" in wrong.text
        sent = await member.post(
            f"/questionnaires/{questionnaire_id}",
            data={"csrf_token": csrf, "q0": "4", "q1": ["0", "2"], "q2": MARKER},
        )
        assert sent.status_code == 303, sent.text
        assert "Merci" in (await member.get(sent.headers["location"])).text
        assert "Votre avis" not in (await member.get("/questionnaires/banner")).text
        twice = await member.post(
            f"/questionnaires/{questionnaire_id}", data={"csrf_token": csrf, "q0": "5"}
        )
        assert twice.status_code == 409

    # Anonymous: the answer row names nobody; the participation row holds no answer.
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            answers = list(await session.scalars(select(QuestionnaireAnswer)))
            assert len(answers) == 1 and answers[0].user_id is None
            assert answers[0].answers == [4, [0, 2], MARKER]
            taken = list(await session.scalars(select(Participation)))
            assert len(taken) == 1 and taken[0].answered
    finally:
        await engine.dispose()

    async with site.signed_in("ref_a") as referent:
        # The referent dismisses it for this month (everyone is asked, referents too).
        csrf = hidden((await referent.get("/questionnaires/banner")).text, "csrf_token")
        dismissed = await referent.post(
            f"/questionnaires/{questionnaire_id}/dismiss",
            data={"csrf_token": csrf},
            headers={"HX-Request": "true"},
        )
        assert dismissed.status_code == 200 and dismissed.text == ""
        results = await referent.get(results_url)
        assert results.status_code == 200
        assert "Taux de réponse" in results.text
        assert "moyenne 4,0 sur 5" in results.text
        # One answer only: free texts stay hidden (at least 3 are needed).
        assert MARKER not in results.text
        csv = await referent.get(results_url + "/results.csv")
        assert "Synthèses,0" in csv.text and "Traductions,1" in csv.text
        assert MARKER not in csv.text

    async with site.signed_in("ref_b") as other:
        assert (await other.get(results_url)).status_code in (403, 404)
        assert (await other.get(f"/questionnaires/{questionnaire_id}")).status_code == 404
        assert "Votre avis" not in (await other.get("/questionnaires/banner")).text


async def test_unknown_questionnaire_is_not_found(site: Site) -> None:
    async with site.signed_in("member_a") as member:
        assert (await member.get(f"/questionnaires/{uuid.uuid4()}")).status_code == 404


async def test_demo_seed_fills_votes_and_answers(session_maker: Any) -> None:
    """`autan demo seed` gives the cockpit a leaderboard and a questionnaire to show."""
    async with session_maker() as session:
        report = await seed(session, SeedPlan("demo", users=40, requests=500, days=60, votes=300))
        assert report.votes == 300 and report.answers > 0
        org = await repository.org_by_slug(session, "demo")
        assert org is not None
        board = await arena.board(session, org.id, samples=100)
        assert board.votes == 300 and board.enough
        # The later model is the stronger one in the demo.
        assert [s.model for s in board.standings] == list(reversed(DEFAULT_MODELS))
        [questionnaire] = await service.of_org(session, org.id)
        view = await results(session, questionnaire)
        assert len(view.periods) == 3
        # Every demo answer rates the first statement.
        assert view.current.answered == view.questions[0].answered > 0
        assert 0 < view.current.rate < 1
        assert view.questions[0].mean is not None


async def test_creating_closing_and_reopening_are_audited(site: Site, database_url: str) -> None:
    async with site.signed_in("ref_a") as referent:
        csrf = hidden((await referent.get("/admin/orgs/agri/questionnaires")).text, "csrf_token")
        form = questionnaire_form(csrf, title="Questionnaire audité")
        created = await referent.post("/admin/orgs/agri/questionnaires", data=form)
        assert created.status_code == 303
        base = created.headers["location"]
        for active in ("0", "0", "1"):  # close, close again (no change), reopen
            moved = await referent.post(
                base + "/active", data={"csrf_token": csrf, "active": active}
            )
            assert moved.status_code == 303
        log = await referent.get("/admin/orgs/agri/audit")
        assert log.status_code == 200
        for label in ("Questionnaire créé", "Questionnaire clos", "Questionnaire rouvert"):
            assert label in log.text
        assert "Questionnaire audité" in log.text
    async with site.signed_in("ref_b") as other:  # another organisation's log shows none
        assert "Questionnaire audité" not in (await other.get("/admin/orgs/culture/audit")).text
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            rows = list(
                await session.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.action.like("questionnaire_%"))
                    .order_by(AuditEvent.id)
                )
            )
    finally:
        await engine.dispose()
    assert [r.action for r in rows] == [
        "questionnaire_created",
        "questionnaire_closed",
        "questionnaire_reopened",
    ]
    assert {r.details["questionnaire_id"] for r in rows} == {base.rsplit("/", 1)[1]}
    assert rows[0].details["questions"] == 3 and rows[0].details["anonymous"] is True


async def test_named_questionnaire_for_one_role(site: Site, database_url: str) -> None:
    async with site.signed_in("ref_a") as referent:
        csrf = hidden((await referent.get("/admin/orgs/agri/questionnaires")).text, "csrf_token")
        form = questionnaire_form(csrf, title="Pour les référents", audience="referent")
        del form["anonymous"]
        created = await referent.post("/admin/orgs/agri/questionnaires", data=form)
        assert created.status_code == 303
        questionnaire_id = created.headers["location"].rsplit("/", 1)[1]
    async with site.signed_in("member_a") as member:
        assert "Pour les référents" not in (await member.get("/questionnaires/banner")).text
        assert (await member.get(f"/questionnaires/{questionnaire_id}")).status_code == 404
    async with site.signed_in("ref_a") as referent:
        page = await referent.get(f"/questionnaires/{questionnaire_id}")
        assert "pas anonyme" in page.text
        sent = await referent.post(
            f"/questionnaires/{questionnaire_id}",
            data={"csrf_token": hidden(page.text, "csrf_token"), "q0": "2"},
        )
        assert sent.status_code == 303
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            [answer] = list(await session.scalars(select(QuestionnaireAnswer)))
            [taken] = list(await session.scalars(select(Participation)))
            # Not anonymous: the answer names its author, as the form said it would.
            assert answer.user_id == taken.user_id and answer.answers == [2, None, None]
    finally:
        await engine.dispose()
