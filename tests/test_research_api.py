"""Deep research over the API: created as a job, polled, its events streamed (resumable),
cancelled keeping what was found, its owner's alone, refused (403) when the organisation
forbids web search."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import update

from autan.accounts import service as accounts
from autan.accounts.models import Organisation, Role
from autan.core.db import create_engine, session_factory
from tests.conftest import RunningAutan, make_settings, serve_autan
from tests.support.echo_upstream import echo_upstream
from tests.support.websearch import PAGES, FakePage, WebFixture, web_fixture
from tests.test_research import FAST, QUESTION, echo_models, web_settings


@pytest.fixture
async def web() -> AsyncIterator[WebFixture]:
    async with web_fixture(PAGES) as running:
        yield running


@pytest.fixture
async def autan(tmp_path: Path, database_url: str, web: WebFixture) -> AsyncIterator[RunningAutan]:
    async with echo_upstream() as echo_url:
        settings = make_settings(
            tmp_path,
            database_url,
            echo_models(echo_url),
            web=web_settings(web),
            research={**FAST, "events_interval": 0.1},
        )
        async with serve_autan(settings) as running:
            yield running


async def poll(client: httpx.AsyncClient, job_id: str, statuses: set[str]) -> dict[str, Any]:
    for _ in range(600):
        job: dict[str, Any] = (await client.get(f"/v1/research/{job_id}")).json()
        if job["status"] in statuses:
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"the run stayed {job['status']}")


def events_of(body: str) -> list[Any]:
    lines = [line[6:] for line in body.split("\n") if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    return [orjson.loads(line) for line in lines[:-1]]


async def outsider_key(autan: RunningAutan) -> str:
    """An API key of a member of another organisation."""
    engine = create_engine(autan.settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            email = "agent@culture.gouv.fr"
            await accounts.create_user(session, email, role=Role.MEMBER, org_slug="culture")
            return (await accounts.create_api_key(session, email)).secret
    finally:
        await engine.dispose()


async def test_a_run_is_created_polled_and_streamed(autan: RunningAutan, web: WebFixture) -> None:
    async with autan.client() as client:
        created = await client.post("/v1/research", json={"question": QUESTION})
        assert created.status_code == 201, created.text
        job = created.json()
        assert job["object"] == "research" and job["status"] == "queued"
        assert job["model"] == "echo" and job["question"] == QUESTION
        async with client.stream("GET", f"/v1/research/{job['id']}/events") as stream:
            body = "".join([part async for part in stream.aiter_text()])
        events = events_of(body)
        steps = [e for e in events if e["type"] == "research.step"]
        assert [e["sequence_number"] for e in steps] == list(range(len(steps)))
        kinds = [e["step"]["kind"] for e in steps]
        assert kinds[0] == "plan" and "search" in kinds and kinds[-1] == "report"
        assert events[-1]["type"] == "research.completed"
        done = events[-1]["research"]
        assert done["status"] == "done"
        assert web.url("/particuliers/passeport") in {s["url"] for s in done["sources"]}
        assert "86 euros" in done["report"]
        # Polling gives the same run; the stream resumes after a step already seen.
        assert (await client.get(f"/v1/research/{job['id']}")).json()["report"] == done["report"]
        resumed = await client.get(f"/v1/research/{job['id']}/events?starting_after=1")
        later = [e for e in events_of(resumed.text) if e["type"] == "research.step"]
        assert later[0]["sequence_number"] == 2 and len(later) == len(steps) - 2
        listed = (await client.get("/v1/research")).json()
        assert [item["id"] for item in listed["data"]] == [job["id"]]
        bad = await client.post("/v1/research", json={"question": "court"})
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == "research_question_invalid"
        unknown = await client.post("/v1/research", json={"question": QUESTION, "model": "x"})
        assert unknown.status_code == 404


async def test_cancel_keeps_what_was_found_and_runs_are_their_owners_alone(
    autan: RunningAutan, web: WebFixture
) -> None:
    web.mode = "slow"  # the engine hangs: the run waits in its first search
    async with autan.client() as client:
        job = (await client.post("/v1/research", json={"question": QUESTION})).json()
        await poll(client, job["id"], {"running"})
        key = await outsider_key(autan)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=autan.base_url, headers=headers) as outsider:
            for method, suffix in (("GET", ""), ("GET", "/events"), ("POST", "/cancel")):
                refused = await outsider.request(method, f"/v1/research/{job['id']}{suffix}")
                assert refused.status_code == 404, suffix
                assert refused.json()["error"]["code"] == "research_not_found"
            assert (await outsider.get("/v1/research")).json()["data"] == []
        cancelled = await client.post(f"/v1/research/{job['id']}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        stopped = await poll(client, job["id"], {"stopped"})
        assert "arrêtée à votre demande" in stopped["report"]


async def set_org(autan: RunningAutan, **values: Any) -> None:
    engine = create_engine(autan.settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            await session.execute(update(Organisation).values(**values))
            await session.commit()
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "access", [{"web_search_allowed": False}, {"deep_research_allowed": False}]
)
async def test_refused_unless_the_organisation_allows_deep_research(
    autan: RunningAutan, web: WebFixture, access: dict[str, bool]
) -> None:
    await set_org(autan, **access)
    async with autan.client() as client:
        refused = await client.post("/v1/research", json={"question": QUESTION})
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "research_forbidden"
        # "Web search only": the chat completion may still search.
        searched = await client.post(
            "/v1/chat/completions",
            json={
                "model": "echo",
                "messages": [{"role": "user", "content": QUESTION}],
                "web_search_options": {},
            },
        )
        assert searched.status_code == (200 if access.get("web_search_allowed", True) else 403)
    assert bool(web.queries) == access.get("web_search_allowed", True)


async def test_runs_per_day_are_bounded_by_the_organisation(
    autan: RunningAutan, web: WebFixture
) -> None:
    await set_org(autan, research_limits={"max_runs_per_day": 1, "max_pages": 2})
    async with autan.client() as client:
        first = await client.post("/v1/research", json={"question": QUESTION})
        assert first.status_code == 201, first.text
        assert first.json()["limits"]["max_pages"] == 2
        await poll(client, first.json()["id"], {"done"})
        second = await client.post("/v1/research", json={"question": QUESTION})
    assert second.status_code == 429, second.text
    error = second.json()["error"]
    assert error["code"] == "research_daily_limit"
    assert "1 deep research runs in the last 24 hours" in error["message"]


FOLLOW = "Passeport : timbre fiscal, mairie et apostille ?"


async def test_a_second_round_searches_what_the_first_missed(
    tmp_path: Path, database_url: str
) -> None:
    # Three pages answer the most words of the question; the one about the apostille is
    # ranked last and not read in the first round (three pages per search).
    common = "Le passeport se demande en mairie. Le timbre fiscal coûte 86 euros."
    pages = [FakePage(f"/p{n}", f"Passeport {n}", common) for n in range(3)]
    pages.append(FakePage("/apostille", "Apostille", "L'apostille se demande à la cour."))
    async with web_fixture(pages) as web, echo_upstream() as echo_url:
        settings = make_settings(
            tmp_path,
            database_url,
            echo_models(echo_url),
            web=web_settings(web),
            research={**FAST, "events_interval": 0.1},
        )
        async with serve_autan(settings) as autan, autan.client() as client:
            await set_org(autan, research_limits={"max_questions": 1})  # the question alone
            job = (await client.post("/v1/research", json={"question": FOLLOW})).json()
            done = await poll(client, job["id"], {"done"})
    searches = [s for s in done["steps"] if s["kind"] == "search"]
    assert [s.get("follow_up", False) for s in searches] == [False, True]
    assert "apostille" in searches[1]["query"] and "passeport" not in searches[1]["query"]
    by_url = {s["url"]: s for s in done["sources"]}
    assert web.url("/apostille") in by_url and len(by_url) == 4
    assert by_url[web.url("/apostille")]["question"] == FOLLOW  # filed under the question
    assert "apostille se demande" in done["report"]
