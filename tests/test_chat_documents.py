"""Grounded chat: files attached to a conversation and an organisation's assistant, with the
real embedded models; numbered sources point at the retrieved passages; nobody else's."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from autan.chat.models import Message
from autan.core.db import create_engine, session_factory
from autan.documents.models import Chunk, Document
from autan.llm.config import ModelsConfig, ModelType
from tests.fixtures import fiche_texts
from tests.support.chat_turns import ask, csrf_of, wait_ready
from tests.support.web import Site, run_site

pytestmark = pytest.mark.slow

NOTE = (
    "# Note de service\n\n"
    "## Prime de fin d'année\n\n"
    "La prime de fin d'année des agents est versée le 15 décembre, avec le traitement du "
    "mois. Son montant est de 450 euros pour un agent à temps plein.\n\n"
    "## Télétravail\n\n"
    "Le télétravail est possible deux jours par semaine, sur demande au chef de service.\n"
)
GUIDE = (
    "Guide de l'archivage. Les dossiers de marchés publics sont conservés dix ans après la "
    "fin du marché, puis versés aux archives départementales.\n"
)


@pytest.fixture
async def site(
    tmp_path: Path, database_url: str, embedded_models: ModelsConfig
) -> AsyncIterator[Site]:
    async with run_site(tmp_path, database_url, embedded_models) as running:
        yield running


async def count(site: Site, table: type[Any]) -> int:
    engine = create_engine(site.autan.settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            return int(await session.scalar(select(func.count()).select_from(table)) or 0)
    finally:
        await engine.dispose()


async def test_an_attached_file_grounds_the_answer(site: Site) -> None:
    async with site.signed_in("member_a") as browser:
        csrf = await csrf_of(browser)
        sent = await browser.post(
            "/chat/attachments",
            files={"file": ("note-de-service.md", NOTE.encode(), "text/markdown")},
            headers={"X-CSRF-Token": csrf},
        )
        assert sent.status_code == 201, sent.text
        conversation_id = sent.json()["conversation_id"]
        document = sent.json()["document"]
        info = await wait_ready(browser, f"/chat/attachments/{document['id']}")
        assert info["status"] == "ready" and info["label"] == "Prêt"

        _response, events = await ask(
            browser,
            csrf,
            content="Quand la prime de fin d'année est-elle versée ?",
            conversation_id=conversation_id,
        )
        sources = next(d for n, d in events if n == "sources")["sources"]
        assert sources and sources[0]["number"] == 1
        assert {s["document_name"] for s in sources} == {"note-de-service.md"}
        assert any("15 décembre" in s["excerpt"] for s in sources)
        assert any(n == "done" for n, _ in events)
        page = await browser.get(f"/c/{conversation_id}")
        assert "Sources" in page.text and "15 décembre" in page.text
        assert "note-de-service.md" in page.text  # the attachment list

        # Broken and unsupported files are refused with a reason; nothing is kept.
        refused = await browser.post(
            "/chat/attachments",
            files={"file": ("scan.pdf", b"%PDF-1.7 truncated", "application/pdf")},
            data={"conversation_id": conversation_id},
            headers={"X-CSRF-Token": csrf},
        )
        if refused.status_code == 201:
            failed = await wait_ready(
                browser, f"/chat/attachments/{refused.json()['document']['id']}"
            )
            assert failed["status"] == "failed" and failed["error"]
        else:
            assert refused.json()["error"]["message"]
        # A mislabelled file is refused at once, in the reader's language, values filled in.
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as packed:
            packed.writestr("notes.txt", "Bonjour")
        mislabelled = await browser.post(
            "/chat/attachments",
            files={"file": ("rapport.docx", archive.getvalue(), "application/octet-stream")},
            data={"conversation_id": conversation_id},
            headers={"X-CSRF-Token": csrf},
        )
        assert mislabelled.status_code == 400
        assert mislabelled.json()["error"]["message"] == (
            "Le fichier porte l'extension .docx mais son contenu est une archive ZIP, et non "
            "un document Word. Vérifiez que vous avez envoyé le bon fichier."
        )
        no_csrf = await browser.post(
            "/chat/attachments", files={"file": ("a.txt", b"texte", "text/plain")}
        )
        assert no_csrf.status_code == 403

    async with site.signed_in("ref_a") as other:
        assert (await other.get(f"/chat/attachments/{document['id']}")).status_code == 404
        csrf = await csrf_of(other)
        stolen = await other.post(
            "/chat/attachments",
            files={"file": ("x.txt", b"x", "text/plain")},
            data={"conversation_id": conversation_id},
            headers={"X-CSRF-Token": csrf},
        )
        assert stolen.status_code == 404

    async with site.signed_in("member_a") as browser:
        csrf = await csrf_of(browser)
        deleted = await browser.post(f"/c/{conversation_id}/delete", data={"csrf_token": csrf})
        assert deleted.status_code == 303
    assert await count(site, Document) == 0 and await count(site, Chunk) == 0
    files = site.autan.settings.data_dir / "files"
    assert not [p for p in files.rglob("*") if p.is_file() and "incoming" not in p.parts]


async def test_an_assistant_answers_from_its_collection(site: Site) -> None:
    async with site.signed_in("ref_a") as referent:
        csrf = await csrf_of(referent)
        headers = {"X-CSRF-Token": csrf, "Accept": "application/json"}
        collection = await referent.post(
            "/v1/collections",
            json={"name": "Archives", "description": "", "visibility": "organisation"},
            headers=headers,
        )
        assert collection.status_code == 201, collection.text
        collection_id = collection.json()["id"]
        uploaded = await referent.post(
            "/v1/documents",
            files={"file": ("guide-archivage.txt", GUIDE.encode(), "text/plain")},
            data={"collection": collection_id},
            headers=headers,
        )
        assert uploaded.status_code == 201, uploaded.text
        await wait_ready(referent, f"/v1/documents/{uploaded.json()['id']}")
        created = await referent.post(
            "/api/orgs/agri/assistants",
            json={
                "name": "Archiviste",
                "description": "Répond à partir du guide de l'archivage.",
                "instructions": "Réponds en une phrase.",
                "collections": [collection_id],
            },
            headers=headers,
        )
        assert created.status_code == 201, created.text
        assistant_id = created.json()["id"]

    async with site.signed_in("member_a") as member:
        csrf = await csrf_of(member)
        home = await member.get("/")
        assert "Archiviste" in home.text
        _response, events = await ask(
            member,
            csrf,
            content="Combien de temps garde-t-on les dossiers de marchés publics ?",
            assistant_id=assistant_id,
        )
        sources = next(d for n, d in events if n == "sources")["sources"]
        assert sources[0]["document_name"] == "guide-archivage.txt"
        assert "dix ans" in sources[0]["excerpt"]
        assert any(n == "done" for n, _ in events)
    engine = create_engine(site.autan.settings.resolved_database_url)
    async with session_factory(engine)() as session:
        stored = await session.scalar(select(Message).where(Message.role == "assistant"))
        assert stored is not None and stored.sources and stored.sources[0]["number"] == 1
    await engine.dispose()

    async with site.signed_in("ref_b") as outsider:  # another organisation
        csrf = await csrf_of(outsider)
        assert "Archiviste" not in (await outsider.get("/")).text
        response, _ = await ask(outsider, csrf, content="Les marchés ?", assistant_id=assistant_id)
        assert response.status_code == 404


# The summary test declares half the chat model's window: the same map and reduce over parts
# of 512 tokens instead of 1,024, so the small model reads half as much (38 s before).
NARROW_CONTEXT = 1024


@pytest.fixture
async def narrow_site(
    tmp_path: Path, sqlite_databases: object, embedded_models: ModelsConfig
) -> AsyncIterator[Site]:
    models = embedded_models.model_copy(
        update={
            "models": [
                m.model_copy(update={"context_length": NARROW_CONTEXT})
                if m.type == ModelType.CHAT
                else m
                for m in embedded_models.models
            ]
        }
    )
    url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    async with run_site(tmp_path, url, models) as running:
        yield running


def long_report() -> str:
    """About 1,600 tokens of real French public-service text, in sections: over three times
    the half of the narrowed window that one part may take."""
    sections, size = [], 0
    for number, text in enumerate(fiche_texts(), 1):
        sections.append(f"## Partie {number}\n\n{text[:1500]}")
        size += min(len(text), 1500)
        if size > 6_500:
            break
    return "# Rapport\n\n" + "\n\n".join(sections)


async def test_summarising_a_document_longer_than_the_context(narrow_site: Site) -> None:
    site = narrow_site
    async with site.signed_in("member_a") as browser:
        csrf = await csrf_of(browser)
        sent = await browser.post(
            "/chat/attachments",
            files={"file": ("rapport.md", long_report().encode(), "text/markdown")},
            headers={"X-CSRF-Token": csrf},
        )
        assert sent.status_code == 201, sent.text
        info = await wait_ready(browser, f"/chat/attachments/{sent.json()['document']['id']}")
        assert info["status"] == "ready"
        _response, events = await ask(
            browser,
            csrf,
            content="Résume ce document.",
            conversation_id=sent.json()["conversation_id"],
        )
        sources = next(d for n, d in events if n == "sources")["sources"]
        assert len(sources) >= 3  # one partial summary per part that fits the context
        answer = "".join(d["text"] for n, d in events if n == "delta")
        assert answer.startswith("*Ce document est plus long que ce que le modèle peut lire")
        assert f"résumé en {len(sources)} parties" in answer
        assert any(n == "done" for n, _ in events)
