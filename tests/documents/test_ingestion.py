"""Upload -> ready through the real worker and the embedded e5; dedupe; delete; failures."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from fpdf import FPDF
from sqlalchemy import func, select

from autan.core.db import create_engine, session_factory
from autan.documents.models import Chunk, Document
from autan.documents.settings import DocumentSettings
from autan.llm.config import ModelsConfig
from autan.settings import Settings
from tests.conftest import make_settings, serve_autan
from tests.support.rag import FICHE_MD, OTHER_MD, new_collection, upload, wait_done
from tests.support.usage import usage_rows

pytestmark = pytest.mark.slow


def with_documents(settings: Settings, **changes: object) -> Settings:
    documents = DocumentSettings.model_validate(
        {**settings.documents.model_dump(), "poll_interval": 0.2, **changes}
    )
    return settings.model_copy(update={"documents": documents})


async def chunk_count(database_url: str, document_id: str | None = None) -> int:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            query = select(func.count()).select_from(Chunk)
            if document_id is not None:
                query = query.where(Chunk.document_id == uuid.UUID(document_id))
            return int(await session.scalar(query) or 0)
    finally:
        await engine.dispose()


def stored_files(settings: Settings) -> list[Path]:
    root = settings.data_dir / "files"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def test_upload_ready_search_dedupe_delete(
    tmp_path: Path, database_url: str, embedded_models: ModelsConfig
) -> None:
    settings = with_documents(make_settings(tmp_path, database_url, embedded_models))
    async with serve_autan(settings) as autan, autan.client() as client:
        collection = await new_collection(client)
        sent = await upload(client, collection, "carte.md", FICHE_MD.encode())
        assert sent.status_code == 201, sent.text
        assert sent.json()["status"] == "queued" and sent.json()["format"] == "md"
        done = await wait_done(client, sent.json()["id"])
        assert done["status"] == "ready", done
        assert done["progress"] == 1.0 and done["error"] is None
        assert done["chunks"] >= 2 and done["title"] == "Carte d'identité"

        chunks = (await client.get(f"/v1/chunks/{done['id']}")).json()
        assert chunks["object"] == "list" and len(chunks["data"]) == done["chunks"]
        first = chunks["data"][0]
        assert first["object"] == "chunk" and first["metadata"]["document_id"] == done["id"]
        assert first["metadata"]["collection_id"] == collection
        assert [c["metadata"]["position"] for c in chunks["data"]] == list(range(done["chunks"]))
        assert any("Coût" in c["metadata"]["headings"] for c in chunks["data"])

        other = await upload(client, collection, "permis.md", OTHER_MD.encode())
        await wait_done(client, other.json()["id"])
        found = await client.post(
            "/v1/search",
            json={
                "prompt": "Combien coûte une carte d'identité perdue ?",
                "collections": [collection],
                "k": 3,
            },
        )
        assert found.status_code == 200, found.text
        hits = found.json()["data"]
        assert hits and "timbre fiscal" in hits[0]["chunk"]["content"]
        assert (
            hits[0]["method"] == "hybrid"
            and hits[0]["chunk"]["metadata"]["document_name"] == "carte.md"
        )

        again = await upload(client, collection, "copie.md", FICHE_MD.encode())
        assert again.status_code == 200 and again.json()["id"] == done["id"]

        me = (await client.get("/api/me")).json()
        rows = [r for r in await usage_rows(database_url, 3) if r.endpoint == "embeddings"]
        assert rows and all(str(r.user_id) == me["id"] for r in rows)

        assert len(stored_files(settings)) == 2
        assert (await client.delete(f"/v1/documents/{done['id']}")).status_code == 204
        assert (await client.get(f"/v1/documents/{done['id']}")).status_code == 404
        assert (await client.get(f"/v1/chunks/{done['id']}")).status_code == 404
        assert await chunk_count(database_url, done["id"]) == 0
        assert len(stored_files(settings)) == 1
        found = await client.post(
            "/v1/search", json={"prompt": "timbre fiscal carte perdue", "collections": [collection]}
        )
        assert all(
            h["chunk"]["metadata"]["document_id"] != done["id"] for h in found.json()["data"]
        )

        assert (await client.delete(f"/v1/collections/{collection}")).status_code == 204
        assert await chunk_count(database_url) == 0
        assert stored_files(settings) == []


def encrypted_pdf() -> bytes:
    pdf = FPDF()
    pdf.set_encryption(owner_password="owner", user_password="secret")
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="Confidentiel")
    return bytes(pdf.output())


async def test_bad_files_fail_or_are_refused_with_plain_reasons(
    tmp_path: Path, database_url: str, embedded_models: ModelsConfig
) -> None:
    settings = with_documents(
        make_settings(tmp_path, database_url, embedded_models), max_file_bytes=20_000
    )
    async with serve_autan(settings) as autan, autan.client() as client:
        collection = await new_collection(client)

        too_large = await upload(client, collection, "gros.txt", b"a" * 30_000)
        assert too_large.status_code == 413
        assert too_large.json()["error"]["message"] == "The file is larger than the 20 KB limit."
        huge = await upload(client, collection, "enorme.txt", b"a" * 200_000)
        assert huge.status_code == 413
        assert huge.json()["error"]["message"] == "The file is larger than the 20 KB limit."

        unsupported = await upload(
            client, collection, "programme.exe", b"MZ\x90\x00" + bytes(range(256)) * 8
        )
        assert unsupported.status_code == 400
        assert "not supported" in unsupported.json()["error"]["message"]

        expected = {  # name: (content, what happens, the reason in plain words)
            "casse.pdf": (b"%PDF-1.7\n1 0 obj << /Type /Catalog", "failed", "could not be read"),
            "secret.pdf": (encrypted_pdf(), "failed", "protected by a password"),
            "vide.txt": (b"  \n\n ", "refused", "The file is empty."),
            "faux.docx": (bytes(range(256)) * 20, "refused", "could not be read"),
        }
        for name, (data, outcome, reason) in expected.items():
            sent = await upload(client, collection, name, data)
            if outcome == "refused":
                assert sent.status_code == 400, (name, sent.text)
                assert reason in sent.json()["error"]["message"], name
                continue
            assert sent.status_code == 201, sent.text
            done = await wait_done(client, sent.json()["id"])
            assert done["status"] == "failed" and done["chunks"] == 0, done
            assert reason in done["error"], (name, done["error"])
            assert (await client.get(f"/v1/chunks/{done['id']}")).json()["data"] == []
        # Named .pdf but plain text: read as what it is, not refused.
        text = await upload(client, collection, "note.pdf", b"La demande se fait en mairie.")
        assert text.status_code == 201 and text.json()["format"] == "txt"
        assert (await wait_done(client, text.json()["id"]))["status"] == "ready"
        documents = (await client.get("/v1/documents")).json()["data"]
        assert sorted(d["name"] for d in documents) == ["casse.pdf", "note.pdf", "secret.pdf"]
        assert await chunk_count(database_url) == 1
        assert len(stored_files(settings)) == 3
        assert not list((settings.data_dir / "files" / "incoming").glob("*"))


async def test_embedding_model_down_fails_after_retries(tmp_path: Path, database_url: str) -> None:
    from autan.llm.config import ModelConfig, ModelType, ReplicaConfig

    dead = ModelsConfig(
        models=[
            ModelConfig(
                id="e5-dead",
                type=ModelType.EMBEDDING,
                replicas=[ReplicaConfig(url="http://127.0.0.1:9/v1")],
            )
        ]
    )
    settings = with_documents(
        make_settings(tmp_path, database_url, dead), retry_delay=0.01, max_attempts=2
    )
    async with serve_autan(settings) as autan, autan.client() as client:
        collection = await new_collection(client)
        sent = await upload(client, collection, "carte.md", FICHE_MD.encode())
        done = await wait_done(client, sent.json()["id"])
        assert done["status"] == "failed"
        assert done["error"].startswith("The search model could not be reached (2 tries)")
    # The reason is also kept as a template and its values, for the UI to translate.
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            failed = await session.get(Document, uuid.UUID(done["id"]))
            assert failed is not None
            assert failed.error_template is not None and "{attempts}" in failed.error_template
            # The tries are counted words, so that each language gives them its plural form.
            assert failed.error_values == {"attempts": ["{count} try", "{count} tries", 2]}
    finally:
        await engine.dispose()


async def test_deleted_while_processing_does_not_come_back(
    tmp_path: Path, database_url: str, embedded_models: ModelsConfig
) -> None:
    settings = with_documents(make_settings(tmp_path, database_url, embedded_models), embed_batch=2)
    long_text = "\n\n".join(
        f"## Partie {n}\n\n" + f"Article {n} : la demande de titre de séjour est instruite. " * 12
        for n in range(40)
    )
    async with serve_autan(settings) as autan, autan.client() as client:
        collection = await new_collection(client)
        sent = await upload(client, collection, "long.md", long_text.encode())
        document_id = sent.json()["id"]
        for _ in range(400):
            state = (await client.get(f"/v1/documents/{document_id}")).json()
            if state["status"] in ("indexing", "ready"):
                break
            await asyncio.sleep(0.02)
        assert state["status"] == "indexing", state  # 40 passages, 2 at a time
        assert (await client.delete(f"/v1/documents/{document_id}")).status_code == 204
        worker = autan.app.state.services.documents  # type: ignore[attr-defined]
        for _ in range(2400):  # the worker finishes its batch, then drops the document
            if worker.active == 0:
                break
            await asyncio.sleep(0.05)
        assert worker.active == 0 and worker.timings.documents == 0
        assert (await client.get(f"/v1/documents/{document_id}")).status_code == 404
        assert await chunk_count(database_url) == 0
        assert stored_files(settings) == []
