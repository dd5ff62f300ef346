"""The chat's blind pair (issue 12) answers as the conversation's turns do, on SQLite and
PostgreSQL: grounded in the files attached (both answers cite the same sources, stored with
each), and stopped whole by Stop (both partial answers kept, marked stopped). Two scripted
chat models and a simulated embedding model speak the OpenAI protocol on loopback; the
attachment goes through the real upload and ingestion."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest

from autan.arena.models import Comparison
from autan.chat.models import Message
from tests.support.chat_turns import (
    csrf_of,
    messages_of,
    scripted_site,
    settled,
    stopped,
    wait_ready,
)
from tests.support.library import database
from tests.support.web import Site, parse_events

MODELS = ("alpha", "beta")
PAIR = "/chat/compare"
NOTE = (
    "# Note de service\n\n"
    "La prime de fin d'année des agents est versée le 15 décembre, avec le traitement du "
    "mois. Son montant est de 450 euros pour un agent à temps plein.\n"
)


@pytest.fixture
async def site(tmp_path: Path, database_url: str) -> AsyncIterator[Site]:
    async with scripted_site(tmp_path, database_url, MODELS, embeddings=True) as running:
        yield running


async def attached(browser: httpx.AsyncClient, csrf: str) -> str:
    """A new conversation with the note attached and read; its id."""
    sent = await browser.post(
        "/chat/attachments",
        files={"file": ("note-de-service.md", NOTE.encode(), "text/markdown")},
        headers={"X-CSRF-Token": csrf},
    )
    assert sent.status_code == 201, sent.text
    info = await wait_ready(browser, f"/chat/attachments/{sent.json()['document']['id']}")
    assert info["status"] == "ready", info
    conversation_id: str = sent.json()["conversation_id"]
    return conversation_id


async def test_both_answers_of_a_pair_are_grounded_in_the_attached_file(site: Site) -> None:
    async with site.signed_in("member_a") as browser:
        csrf = await csrf_of(browser)
        conversation_id = await attached(browser, csrf)
        question = "Quand la prime de fin d'année est-elle versée ?"
        response = await browser.post(
            PAIR,
            content=orjson.dumps({"content": question, "conversation_id": conversation_id}),
            headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
            timeout=120,
        )
        assert response.status_code == 200, response.text
        events = parse_events(response.content)
        names = [name for name, _ in events]
        assert names[:2] == ["pair", "sources"] and names[-1] == "end"
        sources = events[1][1]["sources"]
        assert {s["document_name"] for s in sources} == {"note-de-service.md"}
        assert any("15 décembre" in s["excerpt"] for s in sources)
        assert sorted(d["side"] for n, d in events if n == "done") == ["a", "b"]

        rows = await settled(site, conversation_id, 3)
        assert [(role, status) for role, status, _ in rows] == [
            ("user", "complete"),
            ("assistant", "complete"),
            ("assistant", "complete"),
        ]
        answers = (await messages_of(site, conversation_id))[1:]
        assert [a.sources for a in answers] == [sources, sources]  # stored with each answer
        assert {a.model for a in answers} == {"alpha", "beta"}
        # Reloaded, each answer shows its sources.
        page = await browser.get(f"/c/{conversation_id}")
        assert page.text.count("note-de-service.md") >= 2 and "15 décembre" in page.text


async def test_stop_ends_both_answers_and_keeps_what_they_wrote(site: Site) -> None:
    async with site.signed_in("member_a") as browser:
        csrf = await csrf_of(browser)
        first = await stopped(browser, csrf, {"content": "Bonjour"}, lambda _: False, PAIR)
        conversation_id = parse_events(first)[0][1]["conversation_id"]

        def both_writing(seen: bytes) -> bool:
            deltas = [data["side"] for name, data in parse_events(seen) if name == "delta"]
            return len(deltas) >= 8 and set(deltas) == {"a", "b"}

        # "Arrêter" in the middle of both answers.
        body = {"content": "Un long exposé [slow]", "conversation_id": conversation_id}
        seen = await stopped(browser, csrf, body, both_writing, PAIR)
        comparison_id = parse_events(seen)[0][1]["comparison_id"]

        rows = await settled(site, conversation_id, 6)
        assert [(role, status) for role, status, _ in rows[3:]] == [
            ("user", "complete"),
            ("assistant", "stopped"),
            ("assistant", "stopped"),
        ]
        for _role, _status, text in rows[4:]:
            assert text.startswith("Voici une réponse") and "Fin de la réponse" not in text
        page = (await browser.get(f"/c/{conversation_id}")).text
        assert page.count("Réponse arrêtée.") == 2
    async with database(site) as session:
        comparison = await session.get(Comparison, uuid.UUID(comparison_id))
        assert comparison is not None
        for answer_id in (comparison.answer_a_id, comparison.answer_b_id):
            answer = await session.get(Message, answer_id)
            assert answer is not None and answer.status == "stopped"
