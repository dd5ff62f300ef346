"""La Suite's Docs, against a Docs server on loopback that speaks Docs' API: "Envoyer vers
Docs" for a conversation and an answer (headings, lists, tables, sources as links), errors
in plain words (Docs down, token expired, no access), a Docs document attached as context,
refreshed when it changes, dropped with a notice when its reader loses access; the token
saved encrypted and bound to its owner; every route its owner's alone. Both engines."""

from __future__ import annotations

import html
import re
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from autan.accounts.models import AuditEvent
from autan.assistants.models import Assistant
from autan.llm.config import ModelConfig, ModelsConfig, ReplicaConfig
from autan.suitedocs import tokens
from autan.suitedocs.models import DocsLink, DocsToken, LinkStatus
from tests.exports.conftest import seeded
from tests.support.chat_turns import turn
from tests.support.docs_server import FakeDocs, fake_docs
from tests.support.library import database, user_by_email
from tests.support.scripted_upstream import scripted_upstream
from tests.support.web import PEOPLE, Site, hidden, run_site

TOKEN = "eyJ-jeton-de-l-agent"


@pytest.fixture
async def docs() -> AsyncIterator[FakeDocs]:
    async with fake_docs() as running:
        yield running


@pytest.fixture
async def site(tmp_path: Path, database_url: str, docs: FakeDocs) -> AsyncIterator[Site]:
    async with scripted_upstream() as upstream:
        models = ModelsConfig(
            models=[ModelConfig(id="scripted", replicas=[ReplicaConfig(url=upstream)])]
        )
        async with run_site(
            tmp_path, database_url, models, docs={"url": docs.url, "timeout": 5}
        ) as running:
            yield running


async def csrf_of(browser: httpx.AsyncClient, path: str = "/settings/docs") -> str:
    page = await browser.get(path)
    assert page.status_code == 200, page.text
    return hidden(page.text, "csrf_token")


async def save_token(browser: httpx.AsyncClient, token: str = TOKEN) -> httpx.Response:
    csrf = await csrf_of(browser)
    return await browser.post("/settings/docs", data={"csrf_token": csrf, "docs_token": token})


def used(events: list[tuple[str, Any]]) -> list[str]:
    return [s["document_name"] for n, d in events if n == "sources" for s in d["sources"]]


async def test_a_conversation_and_an_answer_become_docs_documents(
    site: Site, docs: FakeDocs
) -> None:
    docs.tokens[TOKEN] = "agent"
    conversation = await seeded(site)
    async with site.signed_in("member_a") as browser:
        saved = await save_token(browser)
        assert saved.status_code == 303
        page = html.unescape((await browser.get("/settings/docs")).text)
        assert "Un jeton est enregistré" in page and TOKEN not in page
        csrf = await csrf_of(browser, f"/c/{conversation.id}")
        sent = await browser.post(f"/c/{conversation.id}/docs/send", data={"csrf_token": csrf})
        assert sent.status_code == 200 and "Document créé dans Docs" in html.unescape(sent.text)
        chat_page = (await browser.get(f"/c/{conversation.id}")).text
        found = re.search(r'action="/messages/([0-9a-f-]+)/docs/send"', chat_page)
        assert found is not None
        answer_id = found.group(1)
        one = await browser.post(f"/messages/{answer_id}/docs/send", data={"csrf_token": csrf})
    assert "Document créé dans Docs" in html.unescape(one.text)
    whole, single = list(docs.documents.values())
    assert f'href="{docs.url}/docs/{whole.id}/"' in html.unescape(sent.text)
    assert docs.uploads == [("Passeport à Lyon.md", "text/markdown")] * 2
    for doc in (whole, single):
        assert doc.owner == "agent"
        assert "| Timbre fiscal | 86 € |" in doc.content
        assert "   - apporter une photo" in doc.content
        assert (
            "1. [Passeport | service-public.fr]"
            "(https://www.service-public.fr/particuliers/vosdroits/F14929)" in doc.content
        )
    assert "### Démarches" in whole.content and "## Vous — " in whole.content
    assert single.content.startswith("# Passeport à Lyon\n\n## Démarches")
    async with database(site) as session:
        row = await session.scalar(select(DocsToken))
        assert row is not None and TOKEN not in row.ciphertext
        actions = list(await session.scalars(select(AuditEvent.action)))
    assert actions.count("docs_sent") == 2 and "docs_token_saved" in actions


async def test_docs_errors_read_in_plain_words(site: Site, docs: FakeDocs) -> None:
    conversation = await seeded(site)
    async with site.signed_in("member_a") as browser:
        csrf = await csrf_of(browser, f"/c/{conversation.id}")
        path = f"/c/{conversation.id}/docs/send"
        missing = await browser.post(path, data={"csrf_token": csrf})
        assert "Autan n'a pas accès à vos documents Docs" in html.unescape(missing.text)
        await save_token(browser)  # a token Docs does not know: expired or revoked
        expired = await browser.post(path, data={"csrf_token": csrf})
        assert "votre session ou votre jeton a expiré" in html.unescape(expired.text)
        docs.tokens[TOKEN] = "agent"
        docs.down = True
        down = await browser.post(path, data={"csrf_token": csrf})
        assert "Docs ne répond pas pour le moment" in html.unescape(down.text)
        docs.down = False
        bad = await save_token(browser, "deux mots")
        assert bad.status_code == 400 and "sans espace" in html.unescape(bad.text)
    assert docs.documents == {}


async def test_a_docs_document_is_context_until_its_reader_loses_access(
    site: Site, docs: FakeDocs
) -> None:
    docs.tokens[TOKEN] = "agent"
    note = docs.add("agent", "Note de service", "Le code du bâtiment B est 4521.")
    other = docs.add("collègue", "Réservé", "Rien pour l'agent.")
    async with site.signed_in("member_a") as browser:
        await save_token(browser)
        csrf = await csrf_of(browser, "/")
        first = await turn(browser, csrf, content="Bonjour")
        conversation_id = next(d["id"] for n, d in first if n == "conversation")
        panel = await browser.get(f"/c/{conversation_id}/docs")
        picker = html.unescape(panel.text)  # the agent's own documents, to pick from
        assert "Note de service" in picker and "Réservé" not in picker
        attach = f"/c/{conversation_id}/docs/attach"
        refused = await browser.post(
            attach, data={"csrf_token": csrf, "docs_url": f"{docs.url}/docs/{other.id}/"}
        )
        assert "vous n'y avez pas accès" in html.unescape(refused.text)
        nonsense = await browser.post(attach, data={"csrf_token": csrf, "docs_url": "bonjour"})
        assert "Collez l'adresse d'un document Docs" in html.unescape(nonsense.text)
        attached = await browser.post(
            attach, data={"csrf_token": csrf, "docs_url": f"{docs.url}/docs/{note.id}/"}
        )
        assert "utilisé comme contexte" in html.unescape(attached.text)
        assert used(
            await turn(browser, csrf, content="Code ?", conversation_id=conversation_id)
        ) == ["Note de service"]
        fetched = [c for c in docs.calls if c[1].endswith(f"{note.id}/formatted-content/")]
        assert len(fetched) == 1  # unchanged in Docs: checked, not fetched again
        docs.edit(note.id, "Le code du bâtiment B est désormais 9876.")
        await turn(browser, csrf, content="Et maintenant ?", conversation_id=conversation_id)
        async with database(site) as session:
            link = await session.scalar(select(DocsLink))
            assert link is not None and "9876" in link.content
        note.readers.discard("agent")  # the agent loses access in Docs
        events = await turn(browser, csrf, content="Encore ?", conversation_id=conversation_id)
        notices = [d["message"] for n, d in events if n == "notice"]
        assert notices == [
            "Vous n'avez plus accès à « Note de service » dans Docs : "
            "ce document n'est plus utilisé."
        ]
        assert used(events) == []
        panel = await browser.get(f"/c/{conversation_id}/docs")
        assert "Vous n'y avez plus accès dans Docs" in html.unescape(panel.text)
    async with database(site) as session:
        link = await session.scalar(select(DocsLink))
        assert link is not None and link.status == LinkStatus.LOST and link.content == ""


async def test_docs_routes_are_their_owners_alone(site: Site, docs: FakeDocs) -> None:
    docs.tokens[TOKEN] = "agent"
    conversation = await seeded(site)
    note = docs.add("agent", "Note", "Texte.")
    async with site.signed_in("member_a") as browser:
        await save_token(browser)
        csrf = await csrf_of(browser, f"/c/{conversation.id}")
        await browser.post(
            f"/c/{conversation.id}/docs/attach", data={"csrf_token": csrf, "docs_url": note.id}
        )
        denied = await browser.post(
            f"/assistants/{uuid.uuid4()}/docs/attach",
            data={"csrf_token": csrf, "docs_url": note.id},
        )
        assert denied.status_code == 403
    async with database(site) as session:
        link = await session.scalar(select(DocsLink))
    assert link is not None
    for who in ("ref_a", "ref_b"):
        async with site.signed_in(who) as browser:
            await save_token(browser)  # even with a valid Docs access of their own
            csrf = await csrf_of(browser)
            base = f"/c/{conversation.id}/docs"
            assert (await browser.get(base)).status_code == 404
            for path in (f"{base}/send", f"{base}/attach", f"{base}/{link.id}/detach"):
                answer = await browser.post(path, data={"csrf_token": csrf, "docs_url": note.id})
                assert answer.status_code == 404, path
    async with database(site) as session:
        assert await session.scalar(select(DocsLink.id)) == link.id
    assert len(docs.documents) == 1


def test_a_sealed_token_opens_only_for_its_owner_and_until_it_expires() -> None:
    me, someone = uuid.uuid4(), uuid.uuid4()
    sealed = tokens.seal("secret", "jeton", time.time() + 60, me)
    assert tokens.unseal("secret", sealed, me) == "jeton"
    assert tokens.unseal("secret", sealed, someone) is None
    assert tokens.unseal("autre secret", sealed, me) is None
    assert tokens.unseal("secret", tokens.seal("secret", "j", time.time() - 1, me), me) is None
    assert PEOPLE  # the module's fixtures name the same people as the pages' tests


async def test_an_assistants_docs_document_reaches_only_those_docs_lets_read_it(
    site: Site, docs: FakeDocs
) -> None:
    docs.tokens.update({"jeton-ref": "referente", TOKEN: "agent"})
    guide = docs.add("referente", "Guide du service", "Le guichet ouvre à 8 h 30.", "agent")
    async with database(site) as session:
        referent = await user_by_email(session, PEOPLE["ref_a"][0])
        assistant = Assistant(org_id=referent.org_id, name="Guichet", instructions="Aide.")
        session.add(assistant)
        await session.commit()
    async with site.signed_in("ref_a") as browser:
        await save_token(browser, "jeton-ref")
        csrf = await csrf_of(browser)
        attached = await browser.post(
            f"/assistants/{assistant.id}/docs/attach",
            data={"csrf_token": csrf, "docs_url": f"{docs.url}/docs/{guide.id}/"},
        )
        assert attached.status_code == 303
        builder = html.unescape((await browser.get(f"/assistants/{assistant.id}/edit")).text)
        assert "Guide du service" in builder
    async with site.signed_in("member_a") as browser:
        await save_token(browser)
        csrf = await csrf_of(browser, "/")
        events = await turn(browser, csrf, content="Horaires ?", assistant_id=str(assistant.id))
        assert used(events) == ["Guide du service"]
        conversation_id = next(d["id"] for n, d in events if n == "conversation")
        guide.readers.discard("agent")  # the agent may no longer read it; the referent may
        events = await turn(browser, csrf, content="Et ?", conversation_id=conversation_id)
        assert used(events) == []
        assert [n for n, _d in events].count("notice") == 1
    async with database(site) as session:
        link = await session.scalar(select(DocsLink))
        # Still the referent's and still readable by her: only the agent's turn left it out.
        assert link is not None and link.status == LinkStatus.OK and link.content
