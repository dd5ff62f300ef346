"""A large PostgreSQL database for the latency benchmark, built with COPY and kept on disk.

Inserting through autan.retrieval.index runs at ~80 chunks/s on PostgreSQL (one statement
per row, the HNSW and GIN indexes updated per row): a million chunks would take hours. Here
the chunk rows go in by COPY with the indexes dropped, the indexes are built once at the end,
and the server's data folder is kept under benchmarks/.work/retrieval/ so reruns start at once.

The layout: one large collection of `total` chunks (real texts replicated, random unit
vectors, 20 chunks a document) and one private collection of 10 documents (200 chunks) whose
texts and vectors are of the same kind: a search restricted to it must still find k chunks.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pgserver
from sqlalchemy import insert

from autan.accounts import service as accounts
from autan.core.db import create_engine, session_factory
from autan.core.migrate import upgrade
from autan.documents.models import Collection, Document, DocumentStatus, Visibility
from autan.retrieval.analysis import index_words
from benchmarks.retrieval.databases import WORK

CHUNKS_PER_DOCUMENT = 20
PRIVATE_DOCUMENTS = 10
BATCH = 20_000  # chunk rows per COPY
SHARED_BUFFERS = "2GB"


@dataclass
class Built:
    url: str
    large_collection: uuid.UUID
    private_collection: uuid.UUID
    chunks: int
    build_seconds: float


_HEADER = np.array([384, 0], dtype=">u2").tobytes()


async def _copy_chunks(
    connection: Any,
    collection_id: uuid.UUID,
    document_ids: Sequence[uuid.UUID],
    texts: Sequence[str],
    words: Sequence[str],
    rng: np.random.Generator,
    offset: int,
) -> int:
    """Binary COPY of 20 chunks per document; chunk n gets text (offset + n) % len(texts)."""
    # pgvector's binary form: dimensions and a reserved word (uint16 each), then big-endian
    # float32s; the rows arrive already encoded.
    await connection.set_type_codec(
        "vector", schema="public", encoder=bytes, decoder=bytes, format="binary"
    )
    columns = [
        "document_id",
        "collection_id",
        "position",
        "content",
        "pages",
        "headings",
        "lexical_headings",
        "lexical_content",
        "tokens",
        "embedding",
    ]
    written = 0
    per_batch = BATCH // CHUNKS_PER_DOCUMENT
    for start in range(0, len(document_ids), per_batch):
        documents = document_ids[start : start + per_batch]
        vectors = rng.standard_normal((len(documents) * CHUNKS_PER_DOCUMENT, 384))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        encoded = vectors.astype(">f4")
        records = []
        for d, document_id in enumerate(documents):
            for position in range(CHUNKS_PER_DOCUMENT):
                t = (offset + written) % len(texts)
                vector = _HEADER + encoded[d * CHUNKS_PER_DOCUMENT + position].tobytes()
                records.append(
                    (
                        document_id,
                        collection_id,
                        position,
                        texts[t],
                        "",
                        "",
                        "",
                        words[t],
                        0,
                        vector,
                    )
                )
                written += 1
        await connection.copy_records_to_table("chunks", records=records, columns=columns)
        print(f"  copied {written} chunks", flush=True)
    return written


async def _documents(
    maker: Any, collection: Collection, owner_id: uuid.UUID, org_id: uuid.UUID, count: int
) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(count)]
    rows = [
        {
            "id": document_id,
            "collection_id": collection.id,
            "owner_id": owner_id,
            "org_id": org_id,
            "name": f"synthetic-{n}",
            "format": "txt",
            "size_bytes": 0,
            "sha256": document_id.hex,
            "status": DocumentStatus.READY,
        }
        for n, document_id in enumerate(ids)
    ]
    async with maker() as session:
        for start in range(0, len(rows), 5000):
            await session.execute(insert(Document), rows[start : start + 5000])
        await session.commit()
    return ids


async def _build(url: str, texts: Sequence[str], total: int) -> tuple[uuid.UUID, uuid.UUID]:
    engine = create_engine(url)
    try:
        await upgrade(engine)
        maker = session_factory(engine)
        async with maker() as session:
            owner = await accounts.create_user(session, f"bulk-{uuid.uuid4().hex[:6]}@bench.fr")
            large = Collection(
                org_id=owner.org_id,
                owner_id=owner.id,
                name="large",
                visibility=Visibility.ORGANISATION,
            )
            private = Collection(
                org_id=owner.org_id,
                owner_id=owner.id,
                name="private",
                visibility=Visibility.PRIVATE,
            )
            session.add_all([large, private])
            await session.commit()
        large_documents = await _documents(
            maker, large, owner.id, owner.org_id, total // CHUNKS_PER_DOCUMENT
        )
        private_documents = await _documents(
            maker, private, owner.id, owner.org_id, PRIVATE_DOCUMENTS
        )
        words = [index_words([t]) for t in texts]
        rng = np.random.default_rng(0)
        async with engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver: Any = raw.driver_connection
            await driver.execute("DROP INDEX IF EXISTS ix_chunks_embedding_hnsw")
            await driver.execute("DROP INDEX IF EXISTS ix_chunks_search_vector")
            written = await _copy_chunks(driver, large.id, large_documents, texts, words, rng, 0)
            # The private collection's texts start elsewhere in the list: its own mix of words.
            await _copy_chunks(
                driver, private.id, private_documents, texts, words, rng, written + 7919
            )
            await driver.execute("SET maintenance_work_mem = '4GB'")
            await driver.execute("SET max_parallel_maintenance_workers = 1")
            started = time.perf_counter()
            await driver.execute(
                "CREATE INDEX ix_chunks_search_vector ON chunks USING gin (search_vector)"
            )
            print(f"  GIN index in {time.perf_counter() - started:.0f} s", flush=True)
            started = time.perf_counter()
            await driver.execute(
                "CREATE INDEX ix_chunks_embedding_hnsw ON chunks "
                "USING hnsw (embedding vector_cosine_ops)"
            )
            print(f"  HNSW index in {time.perf_counter() - started:.0f} s", flush=True)
            await driver.execute("VACUUM ANALYZE chunks")
            await driver.execute("VACUUM ANALYZE documents")
        return large.id, private.id
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def large_database(texts: Sequence[str], total: int) -> AsyncIterator[Built]:
    """A running PostgreSQL holding `total` synthetic chunks (+ the private collection),
    built on first use and kept in benchmarks/.work/retrieval/pg-<total>."""
    root = WORK / f"pg-{total}"
    marker = root.parent / f"pg-{total}.json"
    if not marker.exists() and root.exists():
        import shutil

        shutil.rmtree(root)  # an interrupted build
    root.mkdir(parents=True, exist_ok=True)
    server: Any = pgserver.get_server(root, cleanup_mode="stop")  # type: ignore[attr-defined]
    if SHARED_BUFFERS not in server.psql("SHOW shared_buffers"):
        # pgserver starts with 128 MB of shared buffers; a server holding a million chunks
        # would be given a share of its memory (the heap and indexes are ~4 GB at 1,000,000).
        server.psql(f"ALTER SYSTEM SET shared_buffers = '{SHARED_BUFFERS}'")
        server.cleanup()
        server = pgserver.get_server(root, cleanup_mode="stop")  # type: ignore[attr-defined]
    url = f"postgresql+asyncpg://postgres@/bench?host={root}"
    try:
        if not marker.exists():
            started = time.perf_counter()
            server.psql("CREATE DATABASE bench")
            large, private = await _build(url, texts, total)
            seconds = time.perf_counter() - started
            marker.write_text(
                json.dumps(
                    {"large": str(large), "private": str(private), "seconds": round(seconds)}
                )
            )
        info = json.loads(marker.read_text())
        yield Built(
            url,
            uuid.UUID(info["large"]),
            uuid.UUID(info["private"]),
            total + PRIVATE_DOCUMENTS * CHUNKS_PER_DOCUMENT,
            float(info["seconds"]),
        )
    finally:
        server.cleanup()


def _main() -> None:
    import argparse
    import asyncio

    from benchmarks.retrieval import data

    parser = argparse.ArgumentParser(description="build (or reuse) the large database")
    parser.add_argument("total", type=int)
    args = parser.parse_args()
    texts = [
        d.text
        for dataset in (data.service_public(), data.piaf())
        for doc in dataset.documents
        for d in doc.drafts
    ]

    async def go() -> None:
        async with large_database(texts, args.total) as built:
            print(built, flush=True)

    asyncio.run(go())


if __name__ == "__main__":
    _main()
