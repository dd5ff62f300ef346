"""Deep research over HTTP: a run is planned, searches and reads pages on loopback, writes a
cited report, shows each step, survives a reload, stops on request keeping what it found,
is marked interrupted by a restart, exports Markdown and DOCX, and is its owner's alone."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from docx import Document as DocxDocument
from sqlalchemy import select, update

from autan.accounts.models import AuditEvent, Organisation
from autan.core.db import create_engine, session_factory
from autan.llm.config import ModelConfig, ModelsConfig, ReplicaConfig
from autan.research.models import ResearchJob
from tests.support.echo_upstream import echo_upstream
from tests.support.web import Site, hidden, run_site
from tests.support.websearch import PAGES, WebFixture, web_fixture

QUESTION = "Comment obtenir un passeport et combien coûte le timbre fiscal ?"
FAST: dict[str, object] = {"heartbeat_interval": 0.2, "poll_interval": 0.2, "stale_after": 30}


@pytest.fixture
async def web() -> AsyncIterator[WebFixture]:
    async with web_fixture(PAGES) as running:
        yield running


@pytest.fixture
async def echo_url() -> AsyncIterator[str]:
    async with echo_upstream() as url:
        yield url


def web_settings(web: WebFixture) -> dict[str, object]:
    return {
        "searxng_url": web.engine_url,
        "allowed_hosts": web.site_host,
        "engine_timeout": 60,
        "fetch_timeout": 20,
        "read_budget": 40,
    }


def echo_models(url: str) -> ModelsConfig:
    return ModelsConfig(models=[ModelConfig(id="echo", replicas=[ReplicaConfig(url=url)])])


@pytest.fixture
async def site(
    tmp_path: Path, database_url: str, web: WebFixture, echo_url: str
) -> AsyncIterator[Site]:
    async with run_site(
        tmp_path, database_url, echo_models(echo_url), web=web_settings(web), research=FAST
    ) as running:
        yield running


async def start(browser: httpx.AsyncClient, question: str = QUESTION) -> httpx.Response:
    csrf = hidden((await browser.get("/research")).text, "csrf_token")
    return await browser.post("/research", data={"csrf_token": csrf, "question": question})


async def started(browser: httpx.AsyncClient) -> str:
    response = await start(browser)
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


async def job_row(site: Site, path: str) -> ResearchJob:
    engine = create_engine(site.autan.settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            job = await session.get(ResearchJob, uuid.UUID(path.rsplit("/", 1)[1]))
            assert job is not None
            return job
    finally:
        await engine.dispose()


async def wait_for(site: Site, path: str, statuses: set[str]) -> ResearchJob:
    for _ in range(600):
        job = await job_row(site, path)
        if job.status in statuses:
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"the run stayed {job.status}")


async def test_a_run_reads_pages_and_writes_a_cited_report(site: Site, web: WebFixture) -> None:
    async with site.signed_in("member_a") as browser:
        path = await started(browser)
        job = await wait_for(site, path, {"done"})
        kinds = [step["kind"] for step in job.steps]
        assert kinds[0] == "plan" and "search" in kinds and "read" in kinds
        assert kinds[-1] == "report"
        assert job.plan[0] == QUESTION
        passport = web.url("/particuliers/passeport")
        numbers = {s["url"]: s["number"] for s in job.sources}
        assert passport in numbers
        assert sorted(numbers.values()) == list(range(1, len(numbers) + 1))
        report = job.report
        # Summary first, then sections, then the list of sources.
        assert report.index("## Synthèse") < report.index(f"## {QUESTION}")
        assert report.index(f"## {QUESTION}") < report.index("## Sources")
        assert f"[{numbers[passport]}]" in report and "86 euros" in report
        # Every quoted point of a section is on the page it cites.
        section = report.split(f"## {QUESTION}")[1].split("## Sources")[0]
        by_number = {s["number"]: s for s in job.sources}
        for line in filter(None, section.strip().splitlines()):
            text, _, cited = line.removeprefix("- ").rpartition(" [")
            assert text.split(". ")[0] in by_number[int(cited.rstrip("]"))]["excerpt"]
        # The page after a reload: steps, plan, sources, report, exports.
        page = (await browser.get(path)).text
        assert "Passeport : première demande" in page and "Terminée" in page
        assert 'hx-trigger="every 1s"' not in page  # no more polling once finished
        progress = await browser.get(f"{path}/progress")
        assert progress.status_code == 200 and "Rapport prêt." in progress.text
        markdown = await browser.get(f"{path}/report.md")
        assert markdown.status_code == 200 and markdown.text == report
        assert markdown.headers["content-disposition"].startswith("attachment")
        word = await browser.get(f"{path}/report.docx")
        assert word.status_code == 200
        document = DocxDocument(io.BytesIO(word.content))
        headings = [
            p.text
            for p in document.paragraphs
            if p.style and str(p.style.name).startswith("Heading")
        ]
        assert "Synthèse" in headings and "Sources" in headings
        listed = (await browser.get("/research")).text
        assert QUESTION in listed
    # Only the query went to the engine: no identity, and the audit says a run started.
    assert all(set(q) <= {"q", "format", "language", "safesearch"} for q in web.queries)
    engine = create_engine(site.autan.settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            actions = list(await session.scalars(select(AuditEvent.action)))
    finally:
        await engine.dispose()
    assert "deep_research" in actions


async def test_stop_keeps_what_was_found(site: Site, web: WebFixture) -> None:
    async with site.signed_in("member_a") as browser:
        web.mode = "slow"  # the engine hangs: the run waits in its first search
        path = await started(browser)
        for _ in range(300):
            job = await job_row(site, path)
            if any(step["kind"] == "search" for step in job.steps):
                break
            await asyncio.sleep(0.1)
        page = (await browser.get(path)).text
        assert 'hx-trigger="every 1s"' in page and "En cours" in page
        csrf = hidden(page, "csrf_token")
        stopped = await browser.post(f"{path}/stop", data={"csrf_token": csrf})
        assert stopped.status_code == 303
        job = await wait_for(site, path, {"stopped"})
        assert "arrêtée à votre demande" in job.report
        assert "Arrêtée" in (await browser.get(path)).text


async def test_a_restart_marks_the_run_interrupted(
    tmp_path: Path, database_url: str, web: WebFixture, echo_url: str
) -> None:
    web.mode = "slow"
    models = echo_models(echo_url)
    async with (
        run_site(tmp_path, database_url, models, web=web_settings(web), research=FAST) as first,
        first.signed_in("member_a") as browser,
    ):
        path = await started(browser)
        await wait_for(first, path, {"running"})
    # The server stopped while the run was searching: it is interrupted, not lost.
    job = await job_row(first, path)
    assert job.status == "interrupted"
    assert "interrompue par un redémarrage du service" in job.report


async def test_runs_are_their_owners_alone(site: Site, web: WebFixture) -> None:
    async with site.signed_in("member_a") as owner:
        path = await started(owner)
        await wait_for(site, path, {"done"})
    for outsider in ("ref_a", "ref_b"):
        async with site.signed_in(outsider) as browser:
            for suffix in ("", "/progress", "/report.md", "/report.docx"):
                assert (await browser.get(f"{path}{suffix}")).status_code == 404, suffix
            csrf = hidden((await browser.get("/research")).text, "csrf_token")
            refused = await browser.post(f"{path}/stop", data={"csrf_token": csrf})
            assert refused.status_code == 404
            assert QUESTION not in (await browser.get("/research")).text


async def test_refused_when_the_organisation_forbids_web_search(
    site: Site, web: WebFixture
) -> None:
    engine = create_engine(site.autan.settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            await session.execute(update(Organisation).values(web_search_allowed=False))
            await session.commit()
    finally:
        await engine.dispose()
    async with site.signed_in("member_a") as browser:
        page = (await browser.get("/research")).text
        assert "Recherche approfondie" in page and "research-question" not in page
        response = await start(browser, "Une question assez longue ?")
        assert response.status_code == 403
        assert "ne vous est pas ouverte" in response.text
    assert web.queries == []


async def test_a_short_question_comes_back_with_a_plain_error(site: Site) -> None:
    async with site.signed_in("member_a") as browser:
        response = await start(browser, "court")
    assert response.status_code == 400
    assert "Écrivez votre question" in response.text and ">court</textarea>" in response.text
