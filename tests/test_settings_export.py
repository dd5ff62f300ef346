"""Personal settings: profile and language, export of one's data, and "delete all my data"."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts import erasure
from autan.accounts import service as accounts
from autan.accounts.models import ApiKey, AuditEvent, User
from autan.chat import export
from autan.chat.models import Conversation, Feedback, Message
from autan.connectors.models import DriveConnection, DriveFile
from autan.core.db import utcnow
from autan.documents.models import Collection, Document, DocumentStatus, Visibility
from autan.prompts import service as prompts
from autan.questionnaires.models import Questionnaire, QuestionnaireAnswer
from autan.research.models import ResearchJob
from autan.suitedocs.models import DocsLink, DocsToken
from autan.usage.models import UsageRecord
from tests.support.library import (
    add_conversation,
    database,
    principal_of,
    queued_translation,
    user_by_email,
)
from tests.support.web import PEOPLE, Site, hidden, run_site

Factory = async_sessionmaker[AsyncSession]
SOURCE = {
    "number": 1,
    "document_name": "circulaire.pdf",
    "page": 3,
    "pages": "3-4",
    "excerpt": "Le télétravail est possible deux jours par semaine.",
}


def test_file_names_are_safe_and_unique() -> None:
    when = datetime(2026, 3, 9, tzinfo=UTC)
    taken: set[str] = set()
    names = [
        export.safe_file_name(title, when, taken)
        for title in ("Réunion d'équipe", "Réunion d'équipe", "../../etc/passwd", "", "★★★")
    ]
    assert names == [
        "2026-03-09-reunion-d-equipe.md",
        "2026-03-09-reunion-d-equipe-2.md",
        "2026-03-09-etc-passwd.md",
        "2026-03-09-conversation.md",
        "2026-03-09-conversation-2.md",
    ]
    long = export.safe_file_name("a" * 500, when, set())
    assert len(long) < 80


async def test_export_and_erasure_touch_only_ones_own_data(session_maker: Factory) -> None:
    async with session_maker() as session:
        me = await accounts.create_user(session, "a@agri.fr", org_slug="agri")
        other = await accounts.create_user(session, "b@agri.fr", org_slug="agri")
        first = await add_conversation(
            session,
            me,
            "Télétravail",
            [("Combien de jours ?", "Deux jours [1]."), ("Et le vendredi ?", "Oui.")],
            rating=1,
            comment="Précis",
            sources=[SOURCE],
        )
        await add_conversation(session, me, "Télétravail", [("Bonjour", "Bonjour !")])
        await add_conversation(session, other, "Secret de b", [("Question de b", "Réponse")])
        await accounts.create_api_key(session, me.email)
        await prompts.create_prompt(
            session, principal_of(me), title="Mon modèle", body="Rôle", category="other"
        )
        session.add(
            Document(
                owner_id=me.id,
                org_id=me.org_id,
                name="note.pdf",
                format="pdf",
                size_bytes=10,
                sha256="a" * 64,
                conversation_id=first.id,
            )
        )
        session.add(
            UsageRecord(user_id=me.id, org_id=me.org_id, endpoint="chat", model="petit", status=200)
        )
        await session.commit()

        document = await export.export_json(session, me.id)
        assert document["format"] == "autan-export/1" and document["user"]["email"] == me.email
        assert [c["title"] for c in document["conversations"]] == ["Télétravail", "Télétravail"]
        messages = document["conversations"][0]["messages"]
        assert [m["position"] for m in messages] == [0, 1, 2, 3]
        assert messages[3]["feedback"] == {
            "rating": 1,
            "comment": "Précis",
            "created_at": messages[3]["feedback"]["created_at"],
        }
        assert messages[1]["sources"] == [SOURCE] and messages[1]["feedback"] is None
        assert document["prompt_templates"][0]["title"] == "Mon modèle"
        assert document["research_runs"] == [] and document["translations"] == []
        assert "Question de b" not in json.dumps(document)

        archive = zipfile.ZipFile(io.BytesIO(await export.export_markdown_zip(session, me.id)))
        names = archive.namelist()
        today = utcnow().strftime("%Y-%m-%d")
        assert names == [f"{today}-teletravail.md", f"{today}-teletravail-2.md"]
        text = archive.read(names[0]).decode()
        assert text.startswith("# Télétravail") and "Combien de jours ?" in text
        assert '[1] circulaire.pdf, p. 3-4 — "Le télétravail est possible' in text
        # In the reader's language: French by default, English on request.
        assert "> Votre avis : 👍 : Précis" in text and "## Vous (" in text
        assert "- Modèle : " in text and "Your feedback" not in text
        english = zipfile.ZipFile(
            io.BytesIO(await export.export_markdown_zip(session, me.id, "en"))
        )
        english_text = english.read(names[0]).decode()
        assert "> Your feedback: 👍: Précis" in english_text and "## You (" in english_text

        before = await erasure.count_my_data(session, me.id)
        assert before == erasure.ErasureCounts(2, 6, 1, 1, 1, 1)
        done = await erasure.erase_my_data(session, principal_of(me), "192.0.2.7")
        assert done.counts == before and len(done.key_hashes) == 1
        assert done.document_digests == {"a" * 64}
        assert await erasure.count_my_data(session, me.id) == erasure.ErasureCounts()
        # The other person's data, the account, the usage counters and the audit remain.
        assert await erasure.count_my_data(session, other.id) == erasure.ErasureCounts(1, 2)
        assert await session.get(User, me.id) is not None
        assert await session.scalar(select(func.count()).select_from(UsageRecord)) == 1
        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "data_erased"))
        assert event is not None and event.details["conversations"] == 2
        assert event.actor_id == me.id and event.ip == "192.0.2.7"
        assert (await export.export_json(session, me.id))["conversations"] == []


async def test_erasure_leaves_no_translation_run_drive_docs_link_or_private_collection(
    session_maker: Factory,
) -> None:
    """What other features keep for a person goes too: a drive left connected would bring
    the deleted files back at its next sync, a translation keeps the uploaded file."""
    async with session_maker() as session:
        me = await accounts.create_user(session, "a@agri.fr", org_slug="agri")
        other = await accounts.create_user(session, "b@agri.fr", org_slug="agri")
        for person in (me, other):
            private = Collection(org_id=person.org_id, owner_id=person.id, name="Mes notes")
            shared = Collection(
                org_id=person.org_id,
                owner_id=person.id,
                name=f"Partagée {person.email}",
                visibility=Visibility.ORGANISATION,
            )
            session.add_all([private, shared])
            await session.flush()
            document = Document(
                owner_id=person.id,
                org_id=person.org_id,
                collection_id=private.id,
                name="dossier.md",
                format="md",
                size_bytes=10,
                sha256=person.email[0] * 64,
            )
            drive = DriveConnection(
                org_id=person.org_id,
                owner_id=person.id,
                collection_id=private.id,
                url="https://drive.example/dav/",
                username=person.email,
                secret="sealed",
            )
            questionnaire = Questionnaire(
                org_id=person.org_id, title="Satisfaction", questions=[], anonymous=False
            )
            session.add_all([document, drive, questionnaire])
            await session.flush()
            session.add_all(
                [
                    DriveFile(connection_id=drive.id, path="dossier.md", document_id=document.id),
                    queued_translation(person, "rapport.md", b"# Rapport confidentiel"),
                    ResearchJob(
                        user_id=person.id,
                        org_id=person.org_id,
                        question="Une question personnelle",
                        model="petit",
                        report="Un rapport",
                    ),
                    DocsLink(
                        user_id=person.id,
                        org_id=person.org_id,
                        docs_id="doc-1",
                        content="Texte copié de Docs",
                    ),
                    DocsToken(user_id=person.id, ciphertext="sealed"),
                    QuestionnaireAnswer(
                        questionnaire_id=questionnaire.id,
                        period_key="once",
                        user_id=person.id,
                        answers=["Très utile"],
                    ),
                ]
            )
        await session.commit()

        # The export holds them too: the report in full, the translation's row.
        exported = await export.export_json(session, me.id)
        assert [r["report"] for r in exported["research_runs"]] == ["Un rapport"]
        assert exported["translations"] == [
            {
                "file_name": "rapport.md",
                "target_language": "en",
                "status": "queued",
                "created_at": exported["translations"][0]["created_at"],
            }
        ]
        before = await erasure.count_my_data(session, me.id)
        assert before == erasure.ErasureCounts(
            documents=1,
            translations=1,
            research_runs=1,
            drive_connections=1,
            docs_links=1,
            private_collections=1,
            questionnaire_answers=1,
        )
        done = await erasure.erase_my_data(session, principal_of(me))
        assert done.counts == before and done.document_digests == {"a" * 64}
        assert await erasure.count_my_data(session, me.id) == erasure.ErasureCounts()
        assert await session.get(DocsToken, me.id) is None
        assert await session.scalar(select(func.count()).select_from(DriveFile)) == 1
        # The person's shared collection is the organisation's: it stays, empty.
        names = set(await session.scalars(select(Collection.name)))
        assert names == {"Mes notes", "Partagée a@agri.fr", "Partagée b@agri.fr"}
        # The other person's data is untouched.
        assert await erasure.count_my_data(session, other.id) == before
        assert await session.get(DocsToken, other.id) is not None


# -- Pages ----------------------------------------------------------------------------------


@pytest.fixture
async def site(tmp_path: Path, sqlite_databases: object) -> AsyncIterator[Site]:
    database_url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    async with run_site(tmp_path, database_url) as running:
        yield running


async def test_profile_and_language(site: Site) -> None:
    async with site.signed_in("member_a") as browser:
        page = await browser.get("/settings")
        assert page.status_code == 200 and 'href="/settings/keys"' in page.text
        assert 'for="display_name"' in page.text and 'for="lang"' in page.text
        csrf = hidden(page.text, "csrf_token")
        bad = await browser.post(
            "/settings", data={"csrf_token": csrf, "display_name": "Agnès", "lang": "de"}
        )
        assert bad.status_code == 400 and 'role="alert"' in bad.text and 'value="Agnès"' in bad.text
        saved = await browser.post(
            "/settings", data={"csrf_token": csrf, "display_name": "Agnès Dupont", "lang": "en"}
        )
        assert saved.status_code == 303 and "lang=en" in saved.headers["set-cookie"]
        english = await browser.get("/settings?saved=1")
        assert '<html lang="en">' in english.text and 'value="Agnès Dupont"' in english.text
        assert "Saved." in english.text
    async with database(site) as session:
        assert (await user_by_email(session, PEOPLE["member_a"][0])).display_name == "Agnès Dupont"


async def test_export_then_delete_everything(site: Site) -> None:
    async with database(site) as session:
        me = await user_by_email(session, PEOPLE["member_a"][0])
        other = await user_by_email(session, PEOPLE["ref_a"][0])
        await add_conversation(session, me, "Budget 2027", [("Le budget ?", "Voici.")], rating=-1)
        await add_conversation(session, other, "Pas à moi", [("Question", "Réponse")])
        key = (await accounts.create_api_key(session, me.email)).secret
        session.add(
            Document(
                owner_id=me.id,
                org_id=me.org_id,
                name="note.txt",
                format="txt",
                size_bytes=5,
                sha256="b" * 64,
                status=DocumentStatus.READY,
            )
        )
        session.add(queued_translation(me, "note.md", b"# Note"))
        await session.commit()
    stored = site.autan.settings.data_dir / "files" / "bb" / ("b" * 64)
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_bytes(b"hello")
    async with site.signed_in("member_a") as browser:
        as_json = await browser.get("/settings/export.json")
        assert as_json.status_code == 200
        assert as_json.headers["content-type"].startswith("application/json")
        assert "attachment" in as_json.headers["content-disposition"]
        data = as_json.json()
        assert [c["title"] for c in data["conversations"]] == ["Budget 2027"]
        assert data["conversations"][0]["messages"][1]["feedback"]["rating"] == -1
        as_zip = await browser.get("/settings/export.zip")
        assert as_zip.headers["content-type"] == "application/zip"
        zipped = zipfile.ZipFile(io.BytesIO(as_zip.content))
        [name] = zipped.namelist()
        assert name.endswith("budget-2027.md")
        assert "## Vous (" in zipped.read(name).decode()  # a French reader's page language

        async with httpx_client(site, key) as api:
            assert (await api.get("/v1/models")).status_code == 200
        page = await browser.get("/settings/delete")
        assert page.status_code == 200 and "Votre compte est conservé" in page.text
        assert "<caption>Ce qui sera supprimé</caption>" in page.text
        # Kinds the person has none of are not listed beyond the six everyone has.
        assert '<th scope="row">Traductions</th><td data-label="Nombre">1</td>' in page.text
        assert "Recherches approfondies" not in page.text
        csrf = hidden(page.text, "csrf_token")
        wrong = await browser.post("/settings/delete", data={"csrf_token": csrf, "confirm": "oui"})
        assert wrong.status_code == 400 and "Saisissez le mot SUPPRIMER" in wrong.text
        assert 'value="oui"' in wrong.text and 'aria-invalid="true"' in wrong.text
        assert (
            await browser.post("/settings/delete", data={"confirm": "SUPPRIMER"})
        ).status_code == 403
        async with database(site) as session:
            assert (await erasure.count_my_data(session, me.id)).conversations == 1
        done = await browser.post(
            "/settings/delete", data={"csrf_token": csrf, "confirm": "supprimer"}
        )
        assert done.status_code == 200 and "Vos données ont été supprimées." in done.text
        assert "<caption>Éléments supprimés</caption>" in done.text
        assert '<th scope="row">Conversations</th><td data-label="Nombre">1</td>' in done.text
        assert '<th scope="row">Messages</th><td data-label="Nombre">2</td>' in done.text
        assert '<th scope="row">Clés d&#39;API</th><td data-label="Nombre">1</td>' in done.text or (
            '<th scope="row">Clés d\'API</th><td data-label="Nombre">1</td>' in done.text
        )
        assert '<th scope="row">Documents</th><td data-label="Nombre">1</td>' in done.text
        assert '<th scope="row">Traductions</th><td data-label="Nombre">1</td>' in done.text
        assert not stored.exists()  # the document's file is gone too
        # The account stays usable; the deleted key stops working at once.
        assert (await browser.get("/settings")).status_code == 200
        async with httpx_client(site, key) as api:
            assert (await api.get("/v1/models")).status_code == 401
    async with database(site) as session:
        assert await session.scalar(select(func.count()).select_from(Conversation)) == 1
        assert await session.scalar(select(func.count()).select_from(Message)) == 2
        assert await session.scalar(select(func.count()).select_from(Feedback)) == 0
        assert (
            await session.scalar(
                select(func.count()).select_from(ApiKey).where(ApiKey.user_id == me.id)
            )
            == 0
        )


def httpx_client(site: Site, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=site.autan.base_url, headers={"Authorization": f"Bearer {key}"}
    )
