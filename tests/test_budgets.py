"""Monthly budgets on both engines: who sets what, the check on /v1 and in the chat, what
/v1/me/info tells, the cockpit's bar and the referents' alerts (once per threshold)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from autan.accounts import service as accounts
from autan.accounts.models import AuditEvent, Organisation, Role
from autan.accounts.principal import Principal
from autan.budgets.errors import BudgetAboveCeiling, OrgBudgetForAdmins
from autan.budgets.models import WHOLE_ORG, Budget, BudgetAlert
from autan.budgets.service import check_change, month_start, next_month
from autan.llm.config import ModelConfig, ModelsConfig, ReplicaConfig
from autan.usage.models import UsageDay
from tests.support.library import database
from tests.support.processes import SimUpstream, start_sim
from tests.support.web import PEOPLE, Site, hidden, run_site


@pytest.fixture(scope="module")
def sim() -> Iterator[SimUpstream]:
    upstream = start_sim("--ttft-ms", "0", "--tokens-per-s", "0", "--tokens", "3")
    yield upstream
    upstream.stop()


@pytest.fixture
async def site(tmp_path: Path, database_url: str, sim: SimUpstream) -> AsyncIterator[Site]:
    models = ModelsConfig(models=[ModelConfig(id="m", replicas=[ReplicaConfig(url=sim.api_url)])])
    async with run_site(tmp_path, database_url, models) as running:
        yield running


def _someone(role: Role) -> Principal:
    return Principal(uuid.uuid4(), uuid.uuid4(), "x@example.org", role)


def test_months_and_who_may_set_what() -> None:
    assert month_start(date(2026, 12, 31)) == date(2026, 12, 1)
    assert next_month(date(2026, 12, 6)) == date(2027, 1, 1)
    assert next_month(date(2027, 1, 31)) == date(2027, 2, 1)
    referent, admin = _someone(Role.REFERENT), _someone(Role.ADMIN)
    with pytest.raises(OrgBudgetForAdmins):
        check_change(referent, {}, WHOLE_ORG, 10)
    with pytest.raises(BudgetAboveCeiling) as above:
        check_change(referent, {WHOLE_ORG: 1_000}, "member", 1_001)
    assert "1,000 tokens" in above.value.message
    check_change(referent, {WHOLE_ORG: 1_000}, "member", 1_000)
    check_change(referent, {}, "member", 10**9)  # no ceiling set by an admin
    check_change(admin, {WHOLE_ORG: 1_000}, WHOLE_ORG, 5)


async def _post_budget(
    browser: httpx.AsyncClient, slug: str, role: str, value: str
) -> httpx.Response:
    page = await browser.get(f"/admin/orgs/{slug}/settings")
    csrf = hidden(page.text, "csrf_token")
    return await browser.post(
        f"/admin/orgs/{slug}/budgets",
        data={"csrf_token": csrf, "role": role, "tokens_per_month": value},
    )


async def _org(site: Site, slug: str) -> Organisation:
    async with database(site) as session:
        org = await session.scalar(select(Organisation).where(Organisation.slug == slug))
        assert org is not None
        return org


async def test_the_admin_sets_the_ceiling_and_a_referent_the_roles_within_it(site: Site) -> None:
    async with site.signed_in("admin") as admin:
        assert (await _post_budget(admin, "agri", "", "1000")).status_code == 303
    async with site.signed_in("ref_a") as referent:
        page = await referent.get("/admin/orgs/agri/settings")
        assert "1 000 tokens per month" in page.text or "1 000 jetons par mois" in page.text
        whole = await _post_budget(referent, "agri", "", "5000")
        assert whole.status_code == 400
        assert "Seul un administrateur peut fixer le budget" in whole.text
        above = await _post_budget(referent, "agri", "member", "2000")
        assert above.status_code == 400
        assert "ne peut pas dépasser le budget de l’organisation" in above.text
        assert 'value="2000"' in above.text, "what was typed is kept"
        assert (await _post_budget(referent, "agri", "member", "600")).status_code == 303
        other = await referent.post(
            "/admin/orgs/culture/budgets",
            data={"csrf_token": hidden(page.text, "csrf_token"), "role": "member"},
        )
        assert other.status_code == 404
    async with site.signed_in("member_a") as member:
        csrf = hidden((await member.get("/")).text, "csrf_token")
        denied = await member.post(
            "/admin/orgs/agri/budgets",
            data={"csrf_token": csrf, "role": "member", "tokens_per_month": "1"},
        )
        assert denied.status_code == 403
    agri = await _org(site, "agri")
    async with database(site) as session:
        saved = await session.scalars(select(Budget))
        rows = {(b.org_id, b.role): b.tokens_per_month for b in saved}
        updates = await session.scalar(
            select(func.count()).where(AuditEvent.action == "budget_updated")
        )
    assert rows == {(agri.id, WHOLE_ORG): 1000, (agri.id, "member"): 600}
    assert updates == 2


async def _seed_tokens(site: Site, org_id: uuid.UUID, role: str, tokens: int) -> None:
    async with database(site) as session:
        session.add(
            UsageDay(
                day=datetime.now(UTC).date(),
                org_id=org_id,
                model="seed",
                endpoint="chat",
                channel="api",
                role=role,
                requests=1,
                errors=0,
                prompt_tokens=tokens,
                completion_tokens=0,
            )
        )
        await session.commit()


async def _api_key(site: Site, who: str) -> str:
    async with database(site) as session:
        return (await accounts.create_api_key(session, PEOPLE[who][0])).secret


CHAT = {"model": "m", "messages": [{"role": "user", "content": "Bonjour"}]}


async def test_a_used_up_budget_refuses_api_and_chat_and_alerts_referents(site: Site) -> None:
    agri = await _org(site, "agri")
    async with site.signed_in("admin") as admin:
        assert (await _post_budget(admin, "agri", "", "100")).status_code == 303
    await _seed_tokens(site, agri.id, "member", 95)
    key = await _api_key(site, "member_a")
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=site.autan.base_url, headers=headers) as api:
        info = (await api.get("/v1/me/info")).json()
        assert info["token_budgets"] == [
            {
                "scope": "organisation",
                "role": None,
                "tokens_per_month": 100,
                "used": 95,
                "remaining": 5,
                "resets_at": int(
                    datetime.combine(
                        next_month(datetime.now(UTC).date()), datetime.min.time(), UTC
                    ).timestamp()
                ),
            }
        ]
        statuses = []
        for _ in range(5):  # each answer spends tokens; the budget runs out within a few
            response = await api.post("/v1/chat/completions", json=CHAT)
            statuses.append(response.status_code)
            if response.status_code != 200:
                break
        assert statuses[0] == 200 and statuses[-1] == 429, statuses
        assert int(response.headers["retry-after"]) >= 1
        error = response.json()["error"]
        assert error["type"] == "rate_limit_error"
        assert error["code"] == "budget_tokens_per_month"
        reset = next_month(datetime.now(UTC).date()).isoformat()
        assert "monthly budget of 100 tokens" in error["message"] and reset in error["message"]
        assert (await api.get("/v1/me/info")).json()["token_budgets"][0]["remaining"] == 0
    async with site.signed_in("member_a") as member:
        csrf = hidden((await member.get("/")).text, "csrf_token")
        refused = await member.post(
            "/chat/turn",
            content=orjson.dumps({"action": "send", "content": "Ma question"}),
            headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
        )
        assert refused.status_code == 429
        message = refused.json()["error"]["message"]
        assert "budget mensuel de 100 jetons" in message and reset in message, message
    async with site.signed_in("ref_a") as referent:
        for _ in range(2):  # seen twice: still one alert per threshold
            usage = await referent.get("/admin/orgs/agri/usage")
            assert 'id="budget-alert"' in usage.text and 'role="alert"' in usage.text
            assert "<meter" in usage.text and 'max="100"' in usage.text
        assert 'id="budget-alert"' in (await referent.get("/admin/orgs/agri/users")).text
    async with site.signed_in("ref_b") as other:
        assert 'id="budget-alert"' not in (await other.get("/admin/orgs/culture/usage")).text
    async with database(site) as session:
        alerts = sorted(
            (a.role, a.threshold, a.month) for a in await session.scalars(select(BudgetAlert))
        )
        audited = await session.scalar(
            select(func.count()).where(AuditEvent.action == "budget_alert")
        )
    month = month_start(datetime.now(UTC).date())
    assert alerts == [(WHOLE_ORG, 80, month), (WHOLE_ORG, 100, month)]
    assert audited == 2


async def test_a_role_budget_stops_that_role_only(site: Site) -> None:
    agri = await _org(site, "agri")
    async with site.signed_in("ref_a") as referent:
        assert (await _post_budget(referent, "agri", "member", "50")).status_code == 303
    await _seed_tokens(site, agri.id, "member", 50)
    member_key, referent_key = await _api_key(site, "member_a"), await _api_key(site, "ref_a")
    async with httpx.AsyncClient(base_url=site.autan.base_url) as api:
        refused = await api.post(
            "/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {member_key}"}
        )
        allowed = await api.post(
            "/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {referent_key}"}
        )
        info = await api.get("/v1/me/info", headers={"Authorization": f"Bearer {member_key}"})
    assert refused.status_code == 429 and allowed.status_code == 200
    assert [(b["scope"], b["role"], b["remaining"]) for b in info.json()["token_budgets"]] == [
        ("role", "member", 0)
    ]
