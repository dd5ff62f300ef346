"""Everyday chat roughness (issue 17), on SQLite and PostgreSQL, against a protocol-speaking
scripted model: titles at once, one "Today" heading, a dying upstream, search by meaning of
letters (accents and case do not matter), and the user's language in exports."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import update

from autan.chat.models import Message
from tests.support.chat_turns import csrf_of, messages_of, scripted_site, settled, stopped, turn
from tests.support.library import database
from tests.support.scripted_upstream import TITLE
from tests.support.web import Site, parse_events


@pytest.fixture
async def site(tmp_path: Path, database_url: str) -> AsyncIterator[Site]:
    async with scripted_site(tmp_path, database_url) as running:
        yield running


async def test_a_new_conversation_is_titled_at_once_then_by_the_model(site: Site) -> None:
    async with site.signed_in("member_a") as browser:
        csrf = await csrf_of(browser)
        events = await turn(browser, csrf, content="Bonjour ! **Comment** préparer un budget?")
        name, first = events[0]
        assert name == "conversation"
        # The provisional title: the question's words, cleaned, before any answer.
        assert first["title"] == "Comment préparer un budget"
        titled = [data for name, data in events if name == "title"]
        assert titled == [{"id": first["id"], "title": TITLE}]
        page = await browser.get(f"/c/{first['id']}")
        # One "Today" heading, marked so that the page files new conversations under it.
        assert page.text.count('data-today="1"') == 1
        assert page.text.count(">Aujourd&#39;hui<") + page.text.count(">Aujourd'hui<") == 1
        # The actions of the conversation are there; the new-chat page has them hidden.
        assert f'action="/c/{first["id"]}/rename"' in page.text
        blank = await browser.get("/")
        assert re.search(r'id="chat-actions"\s+hidden', blank.text)


async def test_an_upstream_that_dies_keeps_the_partial_answer_and_a_title(site: Site) -> None:
    async with site.signed_in("member_a") as browser:
        csrf = await csrf_of(browser)
        events = await turn(browser, csrf, content="Une question qui casse [die]")
        names = [name for name, _ in events]
        assert "delta" in names and "error" in names and "done" not in names
        written = "".join(data["text"] for name, data in events if name == "delta")
        assert written.startswith("Voici une réponse")
        # The question still gets a title, though its answer failed (the model just failed,
        # so the title may be the question's own words).
        titles = [data["title"] for name, data in events if name == "title"]
        assert titles in ([TITLE], ["Une question qui casse die"])
        conversation_id = events[0][1]["id"]
        question, answer = await messages_of(site, conversation_id)
        assert answer.status == "failed" and answer.content == written
        page = await browser.get(f"/c/{conversation_id}")
        assert "Réessayer" in page.text and written.split()[-1] in page.text


async def test_search_ignores_case_and_accents_and_shows_the_passage(site: Site) -> None:
    async with site.signed_in("member_a") as browser:
        csrf = await csrf_of(browser)
        question = "Quels jours de congé poser en Août pour le pont de l'Assomption ?"
        first = await turn(browser, csrf, content=question)
        mine = first[0][1]["id"]
        await turn(browser, csrf, content="Rédige une note sur le budget ÉTÉ 2027")
        found = await browser.get("/chat/search", params={"q": "aout"})
        assert found.status_code == 200
        # Only the conversation that says "Août", with the passage and the word marked.
        assert found.text.count('href="/c/') == 1 and f'href="/c/{mine}"' in found.text
        assert "<mark>Août</mark> pour le pont" in found.text
        by_title = await browser.get("/chat/search", params={"q": "ete 2027"})
        assert by_title.text.count('href="/c/') == 1 and "<mark>ÉTÉ 2027</mark>" in by_title.text
        # Case and accents typed by the searcher do not matter either.
        assert f'href="/c/{mine}"' in (await browser.get("/chat/search?q=CONGÉ")).text
        # Wildcards are words like any other.
        assert "Aucune conversation" in (await browser.get("/chat/search?q=%25")).text
    async with site.signed_in("ref_a") as other:
        # Someone else, even of the same organisation, finds nothing of it.
        theirs = await other.get("/chat/search", params={"q": "aout"})
        assert theirs.status_code == 200 and 'href="/c/' not in theirs.text


async def test_messages_keep_their_folded_text_and_older_rows_are_still_found(
    site: Site,
) -> None:
    async with site.signed_in("member_a") as browser:
        csrf = await csrf_of(browser)
        events = await turn(browser, csrf, content="Prime d'ÉTÉ versée en Août")
        conversation_id = events[0][1]["id"]
        question = next(m for m in await messages_of(site, conversation_id) if m.role == "user")
        # Search reads this column instead of folding every message on every search.
        assert question.folded_content == "prime d'ete versee en aout"
        # A row written without it (before the migration, or by another tool) is still found.
        async with database(site) as session:
            await session.execute(
                update(Message)
                .where(Message.conversation_id == uuid.UUID(conversation_id))
                .values(folded_content=None)
            )
            await session.commit()
        found = await browser.get("/chat/search", params={"q": "versee en AOUT"})
        assert f'href="/c/{conversation_id}"' in found.text
        assert "<mark>versée en Août</mark>" in found.text


async def test_a_model_reciting_its_instructions_is_not_shown_them(site: Site) -> None:
    async with site.signed_in("member_a") as browser:
        csrf = await csrf_of(browser)
        events = await turn(browser, csrf, content="Qui es-tu vraiment ? [leak]")
        shown = "".join(data["text"] for name, data in events if name == "delta")
        assert shown == "Voici la réponse demandée [1]."
        [stored] = [m for m in await messages_of(site, events[0][1]["id"]) if m.role != "user"]
        assert stored.content == shown


async def test_a_fast_model_s_words_reach_the_page_in_fewer_events(site: Site) -> None:
    # The scripted model writes its ~20 words at once: the first goes out alone (never held),
    # the rest together instead of one event per word.
    async with site.signed_in("member_a") as browser:
        csrf = await csrf_of(browser)
        events = await turn(browser, csrf, content="Combien de jours de congé me reste-t-il ?")
    deltas = [data["text"] for name, data in events if name == "delta"]
    written = "".join(deltas)
    assert written.startswith("Voici une réponse") and written.endswith("Fin de la réponse [1].")
    assert deltas[0] == "Voici" and len(deltas) < len(written.split(" ")) // 2
    [stored] = [m for m in await messages_of(site, events[0][1]["id"]) if m.role != "user"]
    assert stored.content == written


async def test_stop_before_the_first_word_keeps_the_question_with_a_retry(site: Site) -> None:
    async with site.signed_in("member_a") as browser:
        csrf = await csrf_of(browser)
        # "Arrêter" before any word came: as soon as the conversation is named.
        seen = await stopped(
            browser,
            csrf,
            {"action": "send", "content": "Une longue attente [wait]"},
            lambda seen: any(name == "conversation" for name, _ in parse_events(seen)),
        )
        conversation_id = parse_events(seen)[0][1]["id"]
        question, answer = await settled(site, conversation_id, 2)
        assert question[2] == "Une longue attente [wait]"
        assert answer[1:] == ("stopped", "")
        page = await browser.get(f"/c/{conversation_id}")
        assert "Réponse arrêtée." in page.text and "Réessayer" in page.text
        # The stopped conversation gets its title all the same, once the model gives one.
        for _ in range(150):
            if TITLE in (await browser.get(f"/c/{conversation_id}")).text:
                break
            await asyncio.sleep(0.1)
        assert TITLE in (await browser.get(f"/c/{conversation_id}")).text
        # Trying again answers the same question.
        events = await turn(browser, csrf, action="regenerate", conversation_id=conversation_id)
        assert any(name == "done" for name, _ in events)


async def test_a_quota_refusal_counts_in_french(tmp_path: Path, database_url: str) -> None:
    """ "limite de 1 requêtes … dans 58 secondees" (issue 17): plurals come from the catalogue."""
    quotas: dict[str, object] = {"requests_per_minute": 1}
    async with (
        scripted_site(tmp_path, database_url, quotas=quotas) as site,
        site.signed_in("member_a") as browser,
    ):
        csrf = await csrf_of(browser)
        await turn(browser, csrf, content="Première question")
        refused = await browser.post(
            "/chat/turn",
            content=orjson.dumps({"action": "send", "content": "Deuxième question"}),
            headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
        )
        assert refused.status_code == 429
        message = refused.json()["error"]["message"]
        assert "limite de 1 requête par minute" in message, message
        assert re.search(r"dans \d+ secondes?\.", message) and "secondee" not in message
