"""`autan worker` runs deep-research runs too (the web process need not), a run whose
process died is marked interrupted by the next one with what it had, and the pure parts of
the report: the plan kept from the model's answer, the summary checked, DOCX."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from pathlib import Path

from docx import Document as DocxDocument

from autan.accounts import service as accounts
from autan.app import run_worker
from autan.core.db import create_engine, session_factory, utcnow
from autan.core.migrate import upgrade
from autan.exports.writers import docx_bytes
from autan.research import report
from autan.research.followup import follow_ups
from autan.research.models import ResearchJob, ResearchStatus
from autan.research.settings import ResearchSettings
from tests.conftest import make_settings
from tests.support.echo_upstream import echo_upstream
from tests.support.websearch import PAGES, web_fixture
from tests.test_research import echo_models

QUESTION = "Combien coûte le timbre fiscal du passeport ?"
SOURCE = {
    "number": 1,
    "url": "https://example.org/passeport",
    "title": "Passeport",
    "site": "example.org",
    "published": None,
    "excerpt": "Passeport\nLe timbre fiscal coûte 86 euros pour un adulte. Il s'achète en ligne.",
    "question": QUESTION,
}


def job(user_id: object, org_id: object, **values: object) -> ResearchJob:
    fields: dict[str, object] = {
        "user_id": user_id,
        "org_id": org_id,
        "question": QUESTION,
        "lang": "fr",
        "model": "echo",
        "status": ResearchStatus.QUEUED,
        "limits": ResearchSettings().limits(None),
        "plan": [],
        "steps": [],
        "sources": [],
        "report": "",
        "progress": 0.0,
        "tokens_used": 0,
    }
    return ResearchJob(**(fields | values))


async def test_the_worker_runs_queued_research_and_interrupts_abandoned_runs(
    tmp_path: Path, database_url: str
) -> None:
    async with web_fixture(PAGES) as web, echo_upstream() as echo_url:
        settings = make_settings(
            tmp_path,
            database_url,
            echo_models(echo_url),
            web={"searxng_url": web.engine_url, "allowed_hosts": web.site_host},
            research={"poll_interval": 0.1, "heartbeat_interval": 0.2, "stale_after": 5},
        )
        engine = create_engine(database_url)
        await upgrade(engine)
        factory = session_factory(engine)
        async with factory() as session:
            user = await accounts.create_user(session, "agent@exemple.gouv.fr")
            queued = job(user.id, user.org_id)
            # A run whose process died an hour ago, in the middle of its reading.
            abandoned = job(
                user.id,
                user.org_id,
                status=ResearchStatus.RUNNING,
                plan=[QUESTION],
                sources=[SOURCE],
                updated_at=utcnow() - timedelta(hours=1),
            )
            session.add_all([queued, abandoned])
            await session.commit()
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(settings, stop))
        try:
            for _ in range(300):
                async with factory() as session:
                    done = await session.get(ResearchJob, queued.id, populate_existing=True)
                    old = await session.get(ResearchJob, abandoned.id, populate_existing=True)
                assert done is not None and old is not None
                if done.final and old.final:
                    break
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            await worker
            await engine.dispose()
    assert done is not None and old is not None
    assert done.status == ResearchStatus.DONE, done.error
    assert any(s["url"] == web.url("/particuliers/passeport") for s in done.sources)
    assert old.status == ResearchStatus.INTERRUPTED
    assert "interrompue par un redémarrage" in old.report and "86 euros" in old.report


def test_the_plan_keeps_questions_only_and_the_question_first() -> None:
    answer = (
        "Voici les sous-questions :\n1. Où acheter le timbre fiscal ?\n"
        "2) Combien coûte le timbre fiscal du passeport ?\n"
        "- Quel délai pour obtenir un rendez-vous ?"
    )
    plan = report.parse_plan(answer, QUESTION, 3)
    assert plan == [
        QUESTION,
        "Où acheter le timbre fiscal ?",
        "Quel délai pour obtenir un rendez-vous ?",
    ]
    assert report.parse_plan('{"body": "nothing usable"}', QUESTION, 3) == [QUESTION]


def test_the_summary_is_the_models_only_when_its_citations_exist() -> None:
    good = "Le timbre fiscal coûte 86 euros pour un adulte [1]."
    assert report.checked_summary(good, [SOURCE]) == good
    assert report.checked_summary(good.replace("[1]", "[4]"), [SOURCE]) is None
    assert report.checked_summary(good.replace(" [1]", ""), [SOURCE]) is None
    # Cited, but not what the page says (a small model's invention).
    invented = "Le passeport est une opération compétitive des entrepreneurs [1]."
    assert report.checked_summary(invented, [SOURCE]) is None
    text = report.build_report(QUESTION, [QUESTION], [SOURCE], "fr")
    # The fallback summary and the section quote the page, not its title line.
    assert "Le timbre fiscal coûte 86 euros pour un adulte. [1]" in text
    assert "- Passeport" not in text


def test_the_docx_export_has_the_reports_headings_and_lists() -> None:
    text = report.build_report(QUESTION, [QUESTION], [SOURCE], "en", "It costs 86 euros [1].")
    document = DocxDocument(io.BytesIO(docx_bytes(text)))
    styles = [(str(p.style.name) if p.style else "", p.text) for p in document.paragraphs]
    assert ("Heading 1", "Deep research") in styles
    assert ("Heading 2", "Summary") in styles
    assert ("List Number", "Passeport — example.org") in styles
    links = [r.target_ref for r in document.part.rels.values() if r.is_external]
    assert "https://example.org/passeport" in links


def test_follow_ups_ask_for_what_the_first_round_missed() -> None:
    plan = [QUESTION, "Où acheter le timbre fiscal en ligne ?"]
    sources = [{**SOURCE, "question": QUESTION}]
    wanted = follow_ups(plan, sources, 4)
    # The unanswered sub-question, by the words no page read holds; then the question's.
    assert wanted[0][1] == plan[1] and "acheter" in wanted[0][0]
    assert "timbre" not in wanted[0][0]  # already found: not searched again
    assert all(query for query, _ in wanted) and len(wanted) <= 4
    assert follow_ups(plan, sources, 1) == wanted[:1]
    everything = {**SOURCE, "question": plan[1], "excerpt": " ".join(plan) + str(SOURCE["excerpt"])}
    assert follow_ups(plan, [everything, sources[0]], 4) == []
