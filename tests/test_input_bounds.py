"""Bounds on inputs: numbers past a column's range, naive instants and loose types are 400s."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from autan.accounts import repository, service
from autan.accounts.principal import Principal
from autan.chat import service as chat
from autan.cli import app as cli
from autan.core.db import create_engine, session_factory
from autan.core.params import MAX_OFFSET
from tests.support.web import PEOPLE, Site, hidden, run_site

HUGE = 2**63
UNREADABLE = "La requête n'a pas pu être lue. Rechargez la page."


@pytest.fixture
async def site(tmp_path: Path, database_url: str) -> AsyncIterator[Site]:
    async with run_site(tmp_path, database_url) as site:
        yield site


async def _conversation(site: Site, who: str) -> str:
    engine = create_engine(site.autan.settings.resolved_database_url)
    async with session_factory(engine)() as session:
        user = await repository.user_by_email(session, PEOPLE[who][0])
        assert user is not None
        me = Principal(user.id, user.org_id, user.email, user.role)
        conversation = await chat.create(session, me, "petit")
        await session.commit()
    await engine.dispose()
    return f"/c/{conversation.id}"


async def _key(site: Site, who: str) -> httpx.AsyncClient:
    engine = create_engine(site.autan.settings.resolved_database_url)
    async with session_factory(engine)() as session:
        secret = (await service.create_api_key(session, PEOPLE[who][0])).secret
    await engine.dispose()
    return httpx.AsyncClient(
        base_url=site.autan.base_url, headers={"Authorization": f"Bearer {secret}"}, timeout=20
    )


async def test_api_refuses_numbers_past_their_columns(site: Site) -> None:
    async with await _key(site, "ref_a") as api:
        for offset in (HUGE, MAX_OFFSET + 1, -1):
            answer = await api.get("/v1/documents", params={"offset": offset})
            assert answer.status_code == 400, answer.text
            assert answer.json()["error"]["param"] == "query.offset"
        assert (await api.get("/v1/documents", params={"offset": MAX_OFFSET})).json()["data"] == []
        audit = await api.get("/api/orgs/agri/audit", params={"before_id": HUGE})
        assert audit.status_code == 400 and audit.json()["error"]["param"] == "query.before_id"
        assert (await api.get("/api/orgs/agri/audit", params={"before_id": HUGE - 1})).is_success
        long_slug = await api.get("/api/orgs/" + "a" * 65 + "/audit")
        assert long_slug.status_code == 400


LOOSE_BODIES: list[tuple[str, str, dict[str, object]]] = [
    ("POST", "/api/me/keys", {"expires_in_days": True}),
    ("POST", "/api/me/keys", {"expires_in_days": "7"}),
    ("POST", "/api/orgs/agri/codes", {"max_uses": -1}),
    ("POST", "/api/orgs/agri/codes", {"max_uses": True}),
    ("POST", "/api/orgs/agri/codes", {"valid_days": 1.5}),
    ("PUT", "/api/orgs/agri/quotas", {"requests_per_minute": True}),
    ("PATCH", "/api/orgs/agri", {"web_search_allowed": "yes"}),
    ("PATCH", "/api/orgs/agri", {"web_search_allowed": 1}),
]


async def test_api_bodies_take_numbers_and_booleans_only_as_such(site: Site) -> None:
    async with await _key(site, "ref_a") as api:
        for method, path, body in LOOSE_BODIES:
            answer = await api.request(method, path, json=body)
            assert answer.status_code == 400, (body, answer.text)
            assert answer.json()["error"]["param"] == next(iter(body))
        # Only the key of this test exists: none was made from a boolean or a string.
        assert len((await api.get("/api/me/keys")).json()) == 1
        assert (await api.get("/api/orgs/agri/codes")).json() == []


async def test_pages_refuse_cursors_out_of_range_or_without_time_zone(site: Site) -> None:
    async with site.signed_in("member_a") as browser:
        conversation = await _conversation(site, "member_a")
        assert (await browser.get(f"{conversation}/messages", params={"before": 5})).is_success
        earlier = await browser.get(f"{conversation}/messages", params={"before": HUGE})
        assert earlier.status_code == 400 and "<html" in earlier.text
        naive = await browser.get("/chat/sidebar", params={"before": "2026-01-01T00:00:00"})
        assert naive.status_code == 400
        aware = await browser.get("/chat/sidebar", params={"before": "2026-01-01T00:00:00Z"})
        assert aware.status_code == 200
        # The chat's own JSON body: a position within its column, booleans that are booleans.
        csrf = {"X-CSRF-Token": hidden((await browser.get("/")).text, "csrf_token")}
        edit = {"action": "edit", "conversation_id": conversation.rsplit("/", 1)[1]}
        for body in (
            {**edit, "position": HUGE, "content": "Bonjour"},
            {**edit, "position": True, "content": "Bonjour"},
            {"content": "Bonjour", "temporary": "yes"},
            {"content": "Bonjour", "model": "m" * 201},
        ):
            refused = await browser.post("/chat/turn", json=body, headers=csrf)
            assert refused.status_code == 400, (body, refused.text)
            assert (
                refused.json()["error"]["message"]
                == "La requête n'a pas pu être lue. Rechargez la page."
            )
    async with site.signed_in("ref_a") as browser:
        audit = await browser.get("/admin/orgs/agri/audit", params={"before_id": HUGE})
        assert audit.status_code == 400 and "<html" in audit.text
        assert (await browser.get("/admin/orgs/agri/audit")).status_code == 200


def test_cli_refuses_a_code_past_its_column(tmp_path: Path, database_url: str) -> None:
    env = {"AUTAN_DATABASE_URL": database_url, "AUTAN_DATA_DIR": str(tmp_path)}
    runner = CliRunner()
    made = runner.invoke(cli, ["orgs", "create", "agri", "--name", "Agri"], env=env)
    assert made.exit_code == 0, made.output
    huge = runner.invoke(cli, ["codes", "create", "--org", "agri", "--uses", str(2**31)], env=env)
    assert huge.exit_code != 0 and "100000" in huge.output
    fine = runner.invoke(cli, ["codes", "create", "--org", "agri", "--uses", "5"], env=env)
    assert fine.exit_code == 0 and fine.output.strip()
