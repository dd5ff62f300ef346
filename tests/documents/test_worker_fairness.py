"""One organisation's queue cannot starve another's: the worker serves organisations in turn."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from pathlib import Path
from typing import cast

from sqlalchemy import update
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts import service as accounts
from autan.chat.models import Conversation
from autan.core.db import utcnow
from autan.documents.models import Collection, Document, DocumentStatus
from autan.documents.settings import DocumentSettings
from autan.documents.storage import FileStore
from autan.documents.worker import IngestionWorker
from autan.llm.client import ModelClient


async def _queue(
    factory: async_sessionmaker[AsyncSession], email: str, org: str, count: int, start: dt.datetime
) -> list[uuid.UUID]:
    """`count` queued documents of a new user of `org`, created one second apart from `start`."""
    async with factory() as session:
        user = await accounts.create_user(session, email, org_slug=org)
        collection = Collection(org_id=user.org_id, owner_id=user.id, name=f"fiches {org}")
        session.add(collection)
        await session.flush()
        documents = [
            Document(
                collection_id=collection.id,
                owner_id=user.id,
                org_id=user.org_id,
                name=f"{org}-{n}.md",
                format="md",
                size_bytes=10,
                sha256=hashlib.sha256(f"{org}-{n}".encode()).hexdigest(),
                status=DocumentStatus.QUEUED,
                created_at=start + dt.timedelta(seconds=n),
            )
            for n in range(count)
        ]
        session.add_all(documents)
        await session.commit()
        return [document.id for document in documents]


async def test_an_organisation_queued_after_a_big_batch_is_served_second(
    session_maker: object, tmp_path: Path
) -> None:
    factory = cast(async_sessionmaker[AsyncSession], session_maker)
    start = utcnow() - dt.timedelta(hours=1)
    batch = await _queue(factory, "a@ministere-a.gouv.fr", "ministere-a", 20, start)
    late = await _queue(
        factory, "b@ministere-b.gouv.fr", "ministere-b", 1, start + dt.timedelta(minutes=5)
    )
    # claim() reads and updates the documents table only: it never reaches the models.
    worker = IngestionWorker(
        factory, cast(ModelClient, None), FileStore(tmp_path / "files"), DocumentSettings()
    )

    first = await worker.claim()
    second = await worker.claim()
    assert first is not None and second is not None
    assert first.id == batch[0]  # nobody served yet: the oldest queued document
    assert second.id == late[0]  # organisation A was just served; B's turn, not A's 2nd file

    # With B's queue empty, A's files follow in order.
    async with factory() as session:
        await session.execute(
            update(Document)
            .where(Document.id.in_([first.id, second.id]))
            .values(status=DocumentStatus.READY)
        )
        await session.commit()
    third = await worker.claim()
    assert third is not None and third.id == batch[1]


async def test_an_organisation_with_work_in_progress_waits_for_the_others(
    session_maker: object, tmp_path: Path
) -> None:
    """Across processes too: a document in progress (in any worker) counts as a turn taken."""
    factory = cast(async_sessionmaker[AsyncSession], session_maker)
    start = utcnow() - dt.timedelta(hours=1)
    batch = await _queue(factory, "a@ministere-a.gouv.fr", "ministere-a", 3, start)
    late = await _queue(
        factory, "b@ministere-b.gouv.fr", "ministere-b", 2, start + dt.timedelta(minutes=5)
    )
    async with factory() as session:  # another process is reading A's first file
        await session.execute(
            update(Document).where(Document.id == batch[0]).values(status=DocumentStatus.PARSING)
        )
        await session.commit()
    worker = IngestionWorker(
        factory, cast(ModelClient, None), FileStore(tmp_path / "files"), DocumentSettings()
    )
    claimed = await worker.claim()
    assert claimed is not None and claimed.id == late[0]


async def test_a_file_attached_in_a_chat_goes_before_a_collection_batch(
    session_maker: object, tmp_path: Path
) -> None:
    factory = cast(async_sessionmaker[AsyncSession], session_maker)
    start = utcnow() - dt.timedelta(hours=1)
    batch = await _queue(factory, "a@ministere-a.gouv.fr", "ministere-a", 5, start)
    async with factory() as session:
        member = await accounts.create_user(
            session, "m@ministere-a.gouv.fr", org_slug="ministere-a"
        )
        conversation = Conversation(
            user_id=member.id, org_id=member.org_id, title="Question", model="petit"
        )
        session.add(conversation)
        await session.flush()
        attached = Document(
            conversation_id=conversation.id,
            owner_id=member.id,
            org_id=member.org_id,
            name="note.md",
            format="md",
            size_bytes=10,
            sha256=hashlib.sha256(b"note").hexdigest(),
            status=DocumentStatus.QUEUED,
            created_at=start + dt.timedelta(minutes=10),
        )
        session.add(attached)
        await session.commit()
    worker = IngestionWorker(
        factory, cast(ModelClient, None), FileStore(tmp_path / "files"), DocumentSettings()
    )
    first = await worker.claim()
    assert first is not None and first.id == attached.id
    second = await worker.claim()
    assert second is not None and second.id == batch[0]  # then the batch, in its order


async def test_a_busy_database_queues_the_document_again_instead_of_failing_it(
    session_maker: object, tmp_path: Path
) -> None:
    """Under overload the pool may refuse a connection mid-document: that is no reason to
    tell the person their file could not be read (it was, in the 2,000-user load run)."""
    factory = cast(async_sessionmaker[AsyncSession], session_maker)
    (queued,) = await _queue(factory, "a@ministere-a.gouv.fr", "ministere-a", 1, utcnow())
    worker = IngestionWorker(
        factory,
        cast(ModelClient, None),
        FileStore(tmp_path / "files"),
        DocumentSettings(retry_delay=0.01),
    )

    async def busy(_job: object) -> None:
        raise PoolTimeout("QueuePool limit of size 10 overflow 20 reached")

    worker._run = busy  # type: ignore[method-assign,assignment]
    claimed = await worker.claim()
    assert claimed is not None and claimed.id == queued
    await worker.process(claimed)
    async with factory() as session:
        document = await session.get(Document, queued)
        assert document is not None
        assert document.status == DocumentStatus.QUEUED and document.error is None
