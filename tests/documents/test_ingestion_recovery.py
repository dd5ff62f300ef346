"""A document left in `parsing` or `indexing` by a killed server is finished by the next one."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from autan.accounts.models import Role, User
from autan.core.db import create_engine, session_factory, utcnow
from autan.documents.errors import INTERRUPTED_TOO_OFTEN
from autan.documents.models import Collection, Document, DocumentStatus
from autan.documents.storage import FileStore
from autan.llm.config import ModelsConfig
from tests.conftest import make_settings, serve_autan
from tests.documents.test_ingestion import with_documents
from tests.support.rag import FICHE_MD, OTHER_MD, add_user, client_for, wait_done

pytestmark = pytest.mark.slow


async def _abandoned(
    database_url: str,
    store: FileStore,
    email: str,
    files: dict[str, tuple[bytes, DocumentStatus, int]],
) -> dict[str, uuid.UUID]:
    """Documents as a killed server leaves them: claimed, heartbeat long stopped."""
    engine = create_engine(database_url)
    ids: dict[str, uuid.UUID] = {}
    try:
        async with session_factory(engine)() as session:
            owner = await session.scalar(select(User).where(User.email == email))
            assert owner is not None
            collection = Collection(org_id=owner.org_id, owner_id=owner.id, name="fiches")
            session.add(collection)
            await session.flush()
            for name, (data, status, attempts) in files.items():
                sha, _ = store.store_bytes(data)
                document = Document(
                    collection_id=collection.id,
                    owner_id=owner.id,
                    org_id=owner.org_id,
                    name=name,
                    format="md",
                    size_bytes=len(data),
                    sha256=sha,
                    status=status,
                    progress=0.3,
                    attempts=attempts,
                    updated_at=utcnow() - timedelta(minutes=10),
                )
                session.add(document)
                await session.flush()
                ids[name] = document.id
            await session.commit()
    finally:
        await engine.dispose()
    return ids


async def test_restart_requeues_and_finishes(
    tmp_path: Path, database_url: str, embedded_models: ModelsConfig
) -> None:
    settings = with_documents(
        make_settings(tmp_path, database_url, embedded_models), max_attempts=3
    )
    key = await add_user(database_url, "owner@example.org", Role.MEMBER)
    ids = await _abandoned(
        database_url,
        FileStore(settings.data_dir / "files"),
        "owner@example.org",
        {
            "carte.md": (FICHE_MD.encode(), DocumentStatus.PARSING, 0),
            "permis.md": (OTHER_MD.encode(), DocumentStatus.INDEXING, 2),
        },
    )
    async with serve_autan(settings) as autan, client_for(autan.base_url, key) as client:
        finished = await wait_done(client, str(ids["carte.md"]))
        assert finished["status"] == "ready" and finished["chunks"] >= 2
        given_up = await wait_done(client, str(ids["permis.md"]))
        assert given_up["status"] == "failed" and given_up["error"] == INTERRUPTED_TOO_OFTEN
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            document = await session.get(Document, ids["carte.md"])
            assert document is not None and document.attempts == 1
    finally:
        await engine.dispose()
