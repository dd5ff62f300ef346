"""Thumbs-down answers shared as evaluation cases: the consent asked at feedback time, the
referent's export (JSONL in the benchmark's format, CSV), never a non-consented exchange nor
another organisation's, and the export audited. Both engines, real pages over HTTP."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from benchmarks.answers.data import Case
from sqlalchemy import select

from autan.accounts.models import AuditEvent
from autan.chat.models import Message
from tests.support.library import add_conversation, database, user_by_email
from tests.support.web import PEOPLE, Site, hidden, run_site

CONSENT = "Partager cet échange"


@pytest.fixture
async def site(tmp_path: Path, database_url: str) -> AsyncIterator[Site]:
    async with run_site(tmp_path, database_url) as running:
        yield running


async def _answer(site: Site, who: str, question: str, reply: str) -> uuid.UUID:
    """A conversation of one turn of `who`; the answer's message id."""
    async with database(site) as session:
        user = await user_by_email(session, PEOPLE[who][0])
        await add_conversation(session, user, question, [(question, reply)])
        await session.commit()
        message = await session.scalar(select(Message).where(Message.content == reply))
        assert message is not None
        return message.id


async def _rate(browser: httpx.AsyncClient, message_id: uuid.UUID, **form: str) -> str:
    page = await browser.get("/")
    fields = {"csrf_token": hidden(page.text, "csrf_token"), **form}
    response = await browser.post(f"/messages/{message_id}/feedback", data=fields)
    assert response.status_code == 200, response.text
    return response.text


async def test_only_consented_cases_of_the_referents_organisation_are_exported(
    site: Site,
) -> None:
    shared = await _answer(site, "member_a", "Quand la prime est-elle versée ?", "En juin.")
    kept = await _answer(site, "member_a", "Question gardée pour soi ?", "Réponse privée.")
    liked = await _answer(site, "member_a", "Question appréciée ?", "Bonne réponse.")
    other = await _answer(site, "ref_b", "Question de la culture ?", "Réponse culture.")

    async with site.signed_in("member_a") as member:
        # Thumbs down: the consent is asked, unticked.
        form = await _rate(member, shared, rating="-1")
        assert CONSENT in form and 'name="share_case"' in form and "checked" not in form
        ticked = await _rate(member, shared, rating="-1", comment="Faux : en décembre.")
        assert "checked" not in ticked  # not ticked, not shared
        ticked = await _rate(member, shared, rating="-1", comment="En décembre.", share_case="1")
        assert "checked" in ticked
        await _rate(member, kept, rating="-1", comment="Ne pas partager.")
        # A thumb up never shares, even with the box sent.
        thumbs_up = await _rate(member, liked, rating="1", share_case="1")
        assert CONSENT not in thumbs_up
        # A member cannot export.
        denied = await member.get("/admin/orgs/agri/evaluation-cases")
        assert denied.status_code == 403
    async with site.signed_in("ref_b") as referent_b:
        await _rate(referent_b, other, rating="-1", share_case="1")
        # Another organisation's referent gets nothing of agri's.
        assert (await referent_b.get("/admin/orgs/agri/evaluation-cases")).status_code == 404
        own = await referent_b.get("/admin/orgs/culture/evaluation-cases")
        assert [json.loads(line)["question"] for line in own.text.splitlines()] == [
            "Question de la culture ?"
        ]

    async with site.signed_in("ref_a") as referent:
        page = await referent.get("/admin/orgs/agri/feedback")
        assert "1 échange partagé." in page.text and "evaluation-cases?fmt=jsonl" in page.text
        exported = await referent.get("/admin/orgs/agri/evaluation-cases?fmt=jsonl")
        assert exported.status_code == 200
        assert "attachment" in exported.headers["content-disposition"]
        lines = [json.loads(line) for line in exported.text.splitlines()]
        assert [(c["question"], c["answer"], c["comment"]) for c in lines] == [
            ("Quand la prime est-elle versée ?", "En juin.", "En décembre.")
        ]
        # The benchmark reads the line as one of its cases.
        fields = set(Case.__dataclass_fields__)
        case = Case(**{k: v for k, v in lines[0].items() if k in fields})
        assert case.question == "Quand la prime est-elle versée ?" and case.answerable
        table = await referent.get("/admin/orgs/agri/evaluation-cases?fmt=csv")
        rows = list(csv.DictReader(io.StringIO(table.text)))
        assert [(r["question"], r["answer"]) for r in rows] == [
            ("Quand la prime est-elle versée ?", "En juin.")
        ]
        for text in (exported.text, table.text):
            assert "Réponse privée" not in text and "culture" not in text.lower()

    async with database(site) as session:
        events = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "cases_exported"))
        ).all()
        agri = [e for e in events if e.details.get("format") == "jsonl" and e.details["cases"] == 1]
        assert len(events) == 3 and agri
