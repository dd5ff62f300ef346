"""Retention: the purge deletes old rows, their index entries and files; rollups keep counts.

On both engines. The proof is a scan: every row of every table (and SQLite's full-text
index) and every file of the store are searched for the marker of the purged items.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts import service as accounts
from autan.accounts.models import AuditEvent, Role, User
from autan.chat.models import Conversation, Message
from autan.core.db import utcnow
from autan.documents.models import Chunk, Collection, Document, DocumentStatus
from autan.documents.storage import FileStore
from autan.migrations.models_registry import metadata
from autan.research.models import ResearchJob
from autan.retention import service as retention
from autan.retrieval.index import add_chunks
from autan.translation.models import TranslationJob
from autan.usage import rollup
from autan.usage.models import UsageDay, UsageRecord
from tests.support.library import add_conversation, queued_translation

Factory = async_sessionmaker[AsyncSession]
NOW = utcnow()
OLD = NOW - timedelta(days=120)
RECENT = NOW - timedelta(days=5)
# In everything that must go; never in what stays.
MARKER = "zorglubpurge"


@dataclass(frozen=True)
class Draft:
    """A chunk draft (the shape `add_chunks` reads)."""

    text: str
    position: int = 0
    page: int | None = 1
    pages: tuple[int, ...] = (1,)
    headings: tuple[str, ...] = ()
    tokens: int = 10


async def _user(session: AsyncSession, email: str, org: str) -> User:
    return await accounts.create_user(session, email, role=Role.MEMBER, org_slug=org)


async def _document(
    session: AsyncSession,
    store: FileStore,
    user: User,
    content: str,
    *,
    at: Any,
    collection: Collection | None = None,
    conversation: Conversation | None = None,
) -> Document:
    sha, _ = store.store_bytes(content.encode())
    document = Document(
        collection_id=collection.id if collection else None,
        conversation_id=conversation.id if conversation else None,
        owner_id=user.id,
        org_id=user.org_id,
        name="note.md",
        format="md",
        size_bytes=len(content),
        sha256=sha,
        status=DocumentStatus.READY,
        created_at=at,
    )
    session.add(document)
    await session.flush()
    await add_chunks(session, document, [Draft(content)], [None])
    await session.commit()
    return document


async def _usage(session: AsyncSession, user: User, at: Any, count: int) -> None:
    rows = [
        {
            "created_at": at,
            "user_id": user.id,
            "org_id": user.org_id,
            "role": "member",
            "api_key_id": None,
            "endpoint": "chat",
            "model": "petit",
            "status": 200,
            "prompt_tokens": 100,
            "completion_tokens": 10,
            "duration_ms": 5.0,
            "energy_kwh_min": 1e-5,
            "energy_kwh_max": 2e-5,
            "gwp_g_min": 0.001,
            "gwp_g_max": 0.002,
        }
        for _ in range(count)
    ]
    await session.execute(insert(UsageRecord), rows)
    await rollup.add(session, rows)
    await session.commit()


async def _day_totals(session: AsyncSession) -> tuple[Any, ...]:
    return tuple(
        (
            await session.execute(
                select(
                    func.sum(UsageDay.requests),
                    func.sum(UsageDay.completion_tokens),
                    func.sum(UsageDay.gwp_g_max),
                )
            )
        ).one()
    )


async def _scan_rows(session: AsyncSession) -> list[str]:
    """Tables (and SQLite's full-text index) where the marker still appears."""
    found = []
    for table in metadata.sorted_tables:
        rows = (await session.execute(select(table))).all()
        if any(MARKER in repr(tuple(row)) for row in rows):
            found.append(table.name)
    if session.get_bind().dialect.name == "sqlite":
        hits = await session.scalar(
            text("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH :word"),
            {"word": MARKER},
        )
        if hits:
            found.append("chunks_fts")
    else:
        hits = await session.scalar(
            text(
                "SELECT count(*) FROM chunks WHERE search_vector @@ plainto_tsquery('simple', :w)"
            ),
            {"w": MARKER},
        )
        if hits:
            found.append("chunks.search_vector")
    return found


def _scan_files(store_root: Path) -> list[Path]:
    return [p for p in store_root.rglob("*") if p.is_file() and MARKER.encode() in p.read_bytes()]


async def test_the_purge_leaves_no_row_index_entry_or_file_and_keeps_the_counts(
    session_maker: Factory, tmp_path: Path
) -> None:
    store = FileStore(tmp_path / "files")
    async with session_maker() as session:
        alice = await _user(session, "alice@agri.gouv.fr", "agri")
        bob = await _user(session, "bob@culture.gouv.fr", "culture")  # no rule: all stays
        old = await add_conversation(
            session,
            alice,
            f"titre {MARKER}",
            [(f"question {MARKER}", "réponse")],
            at=OLD,
            rating=-1,
            comment=f"avis {MARKER}",
        )
        await _document(session, store, alice, f"pièce jointe {MARKER} 1", at=OLD, conversation=old)
        await add_conversation(session, alice, "récente", [("bonjour", "salut")], at=RECENT)
        collection = Collection(org_id=alice.org_id, owner_id=alice.id, name="fiches")
        session.add(collection)
        await session.commit()
        await _document(session, store, alice, f"fiche {MARKER} 2", at=OLD, collection=collection)
        await _document(session, store, alice, "fiche récente", at=RECENT, collection=collection)
        await add_conversation(session, bob, "ancienne", [("vieux", "vieux")], at=OLD)
        await _usage(session, alice, OLD, 30)
        await _usage(session, alice, RECENT, 4)
        await _usage(session, bob, OLD, 7)
        # A person's other work goes with the conversations' period: the old translation (its
        # row holds the uploaded file) and research run; the recent ones and bob's stay.
        for who, at, word in [(alice, OLD, MARKER), (alice, RECENT, "récente"), (bob, OLD, "bob")]:
            session.add_all(
                [
                    queued_translation(who, f"{word}.md", f"# Note {word}".encode(), updated_at=at),
                    ResearchJob(
                        user_id=who.id,
                        org_id=who.org_id,
                        question=f"question {word}",
                        model="petit",
                        report=f"rapport {word}",
                        updated_at=at,
                    ),
                ]
            )
        await session.commit()
        totals = await _day_totals(session)
        await retention.set_rule(
            session, alice.org_id, None, conversation_days=90, document_days=60, usage_days=30
        )
    assert _scan_files(tmp_path / "files"), "the marker is in the store before the purge"

    purged = await retention.purge(session_maker, store)

    # The attachment goes with its conversation; the documents counted are the collection's.
    assert (purged.conversations, purged.documents, purged.usage_rows) == (1, 1, 30)
    assert (purged.translations, purged.research_runs) == (1, 1)
    async with session_maker() as session:
        assert await _scan_rows(session) == []
        assert _scan_files(tmp_path / "files") == []
        titles = set(await session.scalars(select(Conversation.title)))
        assert titles == {"récente", "ancienne"}, "recent and other organisation's stay"
        assert await session.scalar(select(func.count()).select_from(Message)) == 4
        names = list(await session.scalars(select(Chunk.content)))
        assert sorted(names) == ["fiche récente"]
        remaining = dict(
            (
                await session.execute(
                    select(UsageRecord.org_id, func.count()).group_by(UsageRecord.org_id)
                )
            ).all()
        )
        assert remaining == {alice.org_id: 4, bob.org_id: 7}
        assert await _day_totals(session) == totals, "the rollups keep the counts"
        (event,) = await session.scalars(
            select(AuditEvent).where(AuditEvent.action == "retention_purged")
        )
        assert event.org_id == alice.org_id and event.actor_id is None
        assert event.details == {
            "conversations": 1,
            "documents": 1,
            "usage_rows": 30,
            "translations": 1,
            "research_runs": 1,
        }
        kept = set(await session.scalars(select(TranslationJob.file_name)))
        assert kept == {"récente.md", "bob.md"}
        assert set(await session.scalars(select(ResearchJob.report))) == {
            "rapport récente",
            "rapport bob",
        }


async def test_a_second_purge_finds_nothing_and_audits_nothing(
    session_maker: Factory, tmp_path: Path
) -> None:
    store = FileStore(tmp_path / "files")
    async with session_maker() as session:
        alice = await _user(session, "alice@agri.gouv.fr", "agri")
        await add_conversation(session, alice, "x", [("a", "b")], at=OLD)
        await retention.set_rule(
            session, alice.org_id, None, conversation_days=90, document_days=None, usage_days=None
        )
    first = await retention.purge(session_maker, store)
    second = await retention.purge(session_maker, store)
    assert (first.conversations, second.conversations) == (1, 0)
    async with session_maker() as session:
        events = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "retention_purged")
        )
    assert events == 1


async def test_a_shared_file_stays_while_another_document_uses_it(
    session_maker: Factory, tmp_path: Path
) -> None:
    store = FileStore(tmp_path / "files")
    async with session_maker() as session:
        alice = await _user(session, "alice@agri.gouv.fr", "agri")
        bob = await _user(session, "bob@culture.gouv.fr", "culture")
        same = "le même fichier"
        old = await _document(session, store, alice, same, at=OLD)
        kept = await _document(session, store, bob, same, at=OLD)
        await retention.set_rule(
            session, alice.org_id, None, conversation_days=None, document_days=1, usage_days=None
        )
    await retention.purge(session_maker, store)
    async with session_maker() as session:
        assert await session.get(Document, old.id) is None
        assert await session.get(Document, kept.id) is not None
    assert store.exists(kept.sha256)


async def test_rules_are_per_organisation_and_clearable(session_maker: Factory) -> None:
    async with session_maker() as session:
        alice = await _user(session, "alice@agri.gouv.fr", "agri")
        await retention.set_rule(
            session, alice.org_id, alice.id, conversation_days=90, document_days=30, usage_days=None
        )
        await retention.set_rule(
            session,
            alice.org_id,
            alice.id,
            conversation_days=None,
            document_days=None,
            usage_days=None,
        )
        rule = await retention.rule_of(session, alice.org_id)
        assert rule is not None and rule.conversation_days is None
        assert await retention.rule_of(session, uuid.uuid4()) is None
        updates = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "retention_updated", AuditEvent.actor_id == alice.id)
        )
    assert updates == 2


@pytest.mark.parametrize("days", [0, 3651])
def test_periods_out_of_bounds_are_refused_by_the_form(days: int) -> None:
    from starlette.datastructures import FormData

    from autan.web import forms

    with pytest.raises(forms.FormError):
        forms.whole_number(FormData({"d": str(days)}), "d", 1, retention.MAX_DAYS)


def test_the_purge_command_prints_the_counts(tmp_path: Path) -> None:
    import asyncio

    from typer.testing import CliRunner

    from autan.cli import app
    from autan.core.db import create_engine, session_factory

    runner = CliRunner(env={"AUTAN_DATA_DIR": str(tmp_path), "AUTAN_DATABASE_URL": ""})
    assert runner.invoke(app, ["migrate"]).exit_code == 0

    async def fill() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'autan.db'}")
        try:
            async with session_factory(engine)() as session:
                alice = await _user(session, "alice@agri.gouv.fr", "agri")
                await add_conversation(session, alice, "x", [("a", "b")], at=OLD)
                await add_conversation(session, alice, "y", [("a", "b")], at=RECENT)
                await retention.set_rule(
                    session,
                    alice.org_id,
                    None,
                    conversation_days=30,
                    document_days=None,
                    usage_days=None,
                )
        finally:
            await engine.dispose()

    asyncio.run(fill())
    done = runner.invoke(app, ["retention", "purge"])
    assert done.exit_code == 0, done.stderr
    assert done.stdout == (
        "conversations=1 documents=0 usage_rows=0 translations=0 research_runs=0\n"
    )
    again = runner.invoke(app, ["retention", "purge"])
    assert again.stdout == (
        "conversations=0 documents=0 usage_rows=0 translations=0 research_runs=0\n"
    )


async def test_the_scheduled_purge_runs_in_the_background(
    session_maker: Factory, tmp_path: Path
) -> None:
    import asyncio

    from autan.retention.loop import RetentionPurger
    from autan.retention.settings import RetentionSettings

    async with session_maker() as session:
        alice = await _user(session, "alice@agri.gouv.fr", "agri")
        old = await add_conversation(session, alice, "x", [("a", "b")], at=OLD)
        await retention.set_rule(
            session, alice.org_id, None, conversation_days=30, document_days=None, usage_days=None
        )
    purger = RetentionPurger(
        session_maker, FileStore(tmp_path / "files"), RetentionSettings(first_delay=0)
    )
    purger.start()
    try:
        for _ in range(200):
            async with session_maker() as session:
                if await session.get(Conversation, old.id) is None:
                    break
            await asyncio.sleep(0.05)
    finally:
        await purger.stop()
    async with session_maker() as session:
        assert await session.get(Conversation, old.id) is None
