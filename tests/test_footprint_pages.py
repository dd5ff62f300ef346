"""Pages of footprint and retention, on both engines: the referent's form (own organisation
only), the rule shown in the chat and the settings, energy under answers, the cockpit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import insert, select, update

from autan.accounts.models import AuditEvent, Organisation
from autan.chat.models import Message, MessageRole
from autan.footprint.cockpit import footprint
from autan.footprint.display import CAR_G_PER_KM
from autan.insights.cockpit import Filters
from autan.llm.config import ModelFootprint, ModelsConfig
from autan.llm.impacts import Estimator
from autan.retention.models import RetentionRule
from autan.usage import rollup
from autan.usage.models import UsageRecord
from tests.support.library import add_conversation, database, user_by_email
from tests.support.web import PEOPLE, Site, hidden, parse_events, run_site


@pytest.fixture
async def site(tmp_path: Path, database_url: str) -> AsyncIterator[Site]:
    async with run_site(tmp_path, database_url) as running:
        yield running


async def _settings_form(browser: httpx.AsyncClient, slug: str) -> str:
    page = await browser.get(f"/admin/orgs/{slug}/settings")
    assert page.status_code == 200
    return hidden(page.text, "csrf_token")


async def test_a_referent_sets_the_rules_of_their_organisation_only(site: Site) -> None:
    async with site.signed_in("ref_a") as referent:
        csrf = await _settings_form(referent, "agri")
        saved = await referent.post(
            "/admin/orgs/agri/retention",
            data={
                "csrf_token": csrf,
                "conversation_days": "90",
                "document_days": "",
                "usage_days": "400",
            },
        )
        assert saved.status_code == 303
        page = await referent.get("/admin/orgs/agri/settings")
        assert 'name="conversation_days" type="number"' in page.text
        assert 'value="90"' in page.text and 'value="400"' in page.text
        assert 'id="show-impacts" name="show_impacts" type="checkbox" >' in page.text
        refused = await referent.post(
            "/admin/orgs/agri/retention",
            data={"csrf_token": csrf, "conversation_days": "0", "usage_days": "12"},
        )
        assert refused.status_code == 400
        assert "Saisissez un nombre entre 1 et 3\u202f650" in refused.text
        assert 'value="0"' in refused.text and 'value="12"' in refused.text, "what was typed"
        other = await referent.post(
            "/admin/orgs/culture/retention",
            data={"csrf_token": csrf, "conversation_days": "1"},
        )
        assert other.status_code == 404
    async with site.signed_in("member_a") as member:
        csrf = hidden((await member.get("/")).text, "csrf_token")
        denied = await member.post(
            "/admin/orgs/agri/retention", data={"csrf_token": csrf, "conversation_days": "1"}
        )
        assert denied.status_code == 403
    async with database(site) as session:
        rules = {
            r.org_id: (r.conversation_days, r.document_days, r.usage_days)
            for r in await session.scalars(select(RetentionRule))
        }
        agri = await session.scalar(select(Organisation).where(Organisation.slug == "agri"))
        assert agri is not None and rules == {agri.id: (90, None, 400)}
        assert agri.show_impacts is False, "the box was left unticked"
        actions = list(await session.scalars(select(AuditEvent.action)))
        assert "retention_updated" in actions and "org_updated" in actions


async def test_members_see_the_rule_in_the_chat_and_their_settings(site: Site) -> None:
    async with database(site) as session:
        member = await user_by_email(session, PEOPLE["member_a"][0])
        session.add(RetentionRule(org_id=member.org_id, conversation_days=90, document_days=30))
        await session.commit()
    async with site.signed_in("member_a") as browser:
        chat = await browser.get("/")
        assert "Les conversations sont conservées 90 jours après leur dernier message." in chat.text
        assert "Il en va de même des traductions et des recherches approfondies." in chat.text
        assert "Les fichiers envoyés sont conservés 30 jours." in chat.text
        settings = await browser.get("/settings")
        assert "Les conversations sont conservées 90 jours" in settings.text
    async with site.signed_in("ref_b") as other:  # another organisation: no rule
        assert "sont conservées" not in (await other.get("/")).text
        assert "jusqu’à ce que vous les supprimiez" in (await other.get("/settings")).text


async def test_answers_show_their_energy_unless_the_organisation_hides_it(site: Site) -> None:
    impacts = {
        "energy": {"min": 0.0004, "max": 0.0006, "unit": "kWh"},
        "gwp": {"min": 0.00002, "max": 0.00004, "unit": "kgCO2eq"},
    }
    async with database(site) as session:
        member = await user_by_email(session, PEOPLE["member_a"][0])
        conversation = await add_conversation(session, member, "Énergie", [("Bonjour", "Salut")])
        await session.execute(
            update(Message)
            .where(
                Message.conversation_id == conversation.id, Message.role == MessageRole.ASSISTANT
            )
            .values(impacts=impacts)
        )
        await session.commit()
    async with site.signed_in("member_a") as browser:
        shown = await browser.get(f"/c/{conversation.id}")
        # The middle of the range: 0.5 Wh and 0.03 g, in French.
        assert "≈ 0,5 Wh · 0,03 g CO₂e" in shown.text
        assert 'data-show-impacts="1"' in shown.text
    async with database(site) as session:
        await session.execute(
            update(Organisation).where(Organisation.id == member.org_id).values(show_impacts=False)
        )
        await session.commit()
    async with site.signed_in("member_a") as browser:
        hidden_page = await browser.get(f"/c/{conversation.id}")
        assert "Wh ·" not in hidden_page.text and "data-show-impacts" not in hidden_page.text


async def test_the_cockpit_sums_the_footprint_with_a_comparison(site: Site) -> None:
    per_answer = Estimator("petit", ModelFootprint(total_parameters=8)).estimate(300, 10.0)
    assert per_answer is not None
    async with database(site) as session:
        member = await user_by_email(session, PEOPLE["member_a"][0])
        stranger = await user_by_email(session, PEOPLE["ref_b"][0])
        rows = [
            {
                "created_at": datetime.now(UTC),
                "user_id": who.id,
                "org_id": who.org_id,
                "role": str(who.role),
                "api_key_id": None,
                "endpoint": "chat",
                "model": model,
                "status": 200,
                "prompt_tokens": 10,
                "completion_tokens": 300,
                "duration_ms": 10_000.0,
                **per_answer.as_row(),
            }
            for who, model in [(member, "petit")] * 40 + [(stranger, "secret-of-culture")]
        ]
        await session.execute(insert(UsageRecord), rows)
        await rollup.add(session, rows)
        await session.commit()
        view = await footprint(session, Filters(member.org_id, 30))
    expected_g = 40 * (per_answer.gwp_kg_min + per_answer.gwp_kg_max) / 2 * 1000
    assert view.total.gwp_kg * 1000 == pytest.approx(expected_g)
    assert view.total.car_km == pytest.approx(expected_g / CAR_G_PER_KM)
    assert [model for model, _ in view.by_model] == ["petit"]
    async with site.signed_in("ref_a") as referent:
        page = await referent.get("/admin/orgs/agri/usage")
    assert page.status_code == 200
    assert "Énergie et CO₂ des réponses" in page.text and "km" in page.text
    assert "recharges" in page.text and "secret-of-culture" not in page.text


@pytest.mark.slow
async def test_a_chat_answer_of_the_embedded_model_carries_its_energy(
    tmp_path: Path, database_url: str, embedded_models: ModelsConfig
) -> None:
    chat_model = next(m for m in embedded_models.models if m.footprint is not None)
    assert chat_model.footprint is not None and chat_model.footprint.total_parameters == 0.135
    async with run_site(tmp_path, database_url, embedded_models) as site:
        async with site.signed_in("member_a") as browser:
            page = await browser.get("/")
            csrf = hidden(page.text, "csrf_token")
            response = await browser.post(
                "/chat/turn",
                content=orjson.dumps({"action": "send", "content": "Bonjour"}),
                headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
                timeout=120,
            )
            events = parse_events(response.content)
            done = next(data for name, data in events if name == "done")
            conversation_id = events[0][1]["id"]
            energy = done["impacts"]["energy"]
            assert energy["unit"] == "kWh" and 0 < energy["min"] <= energy["max"]
            shown = await browser.get(f"/c/{conversation_id}")
            assert " Wh · " in shown.text and "g CO₂e" in shown.text
        async with database(site) as session:
            stored = await session.scalar(
                select(Message.impacts).where(Message.role == MessageRole.ASSISTANT)
            )
        assert stored == done["impacts"]
