"""`autan worker` processes: they share one queue, take over a killed worker's document,
give back their document on SIGTERM, and spread a document's batches over the replicas."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from autan.accounts import service as accounts
from autan.accounts.models import Role
from autan.accounts.principal import Principal
from autan.core.db import create_engine, session_factory
from autan.core.events import build_bus
from autan.documents import service
from autan.documents.models import Chunk, Document, DocumentStatus
from autan.documents.storage import FileStore
from autan.llm.config import ModelConfig, ModelsConfig, ModelType, ReplicaConfig, dump_models_file
from tests.support.database import SqliteDatabases
from tests.support.faults import eventually
from tests.support.processes import SimUpstream, start_sim

pytestmark = pytest.mark.slow

WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliett",
    "kilo",
    "lima",
]


@pytest.fixture(scope="module")
def quick_sim() -> Iterator[SimUpstream]:
    # 20 ms per embedding request stands for the model's work on a batch.
    upstream = start_sim("--ttft-ms", "20")
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def slow_sim() -> Iterator[SimUpstream]:
    # Slow enough that a worker is caught in the middle of a document.
    upstream = start_sim("--ttft-ms", "2500")
    yield upstream
    upstream.stop()


def worker_env(
    tmp_path: Path,
    database_url: str,
    replicas: list[SimUpstream],
    max_concurrent: int = 4,
    **documents: str,
) -> dict[str, str]:
    """The environment of `autan worker` processes on this database and these replicas."""
    models_file = tmp_path / "models.yaml"
    embedding = ModelConfig(
        id="e5",
        type=ModelType.EMBEDDING,
        dimensions=384,
        max_concurrent=max_concurrent,
        replicas=[ReplicaConfig(url=r.api_url, name=f"sim-{n}") for n, r in enumerate(replicas)],
    )
    dump_models_file(ModelsConfig(models=[embedding]), models_file)
    env = {
        **os.environ,
        "AUTAN_DATA_DIR": str(tmp_path / "data"),
        "AUTAN_DATABASE_URL": database_url,
        "AUTAN_MODELS_FILE": str(models_file),
        "AUTAN_QUOTAS__ENABLED": "false",
        "AUTAN_LOG_JSON": "true",
        "AUTAN_DOCUMENTS__POLL_INTERVAL": "0.2",
        "AUTAN_GATEWAY__HEALTH_INTERVAL": "0.5",
    }
    env.update({f"AUTAN_DOCUMENTS__{k.upper()}": v for k, v in documents.items()})
    return env


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def queue_documents(
    database_url: str, data_dir: Path, texts: list[str], *, announce: bool = False
) -> list[uuid.UUID]:
    """Upload these texts as queued documents of one user, as the web tier would.

    With `announce`, the uploads are announced on the event bus (over the database), as a web
    process announces them; without it, workers only find them by polling.
    """
    engine = create_engine(database_url)
    store = FileStore(data_dir / "files")
    factory = session_factory(engine)
    bus = build_bus(factory, None) if announce else None
    try:
        async with factory() as session:
            email = f"agent-{uuid.uuid4().hex[:8]}@example.org"
            user = await accounts.create_user(session, email, role=Role.MEMBER)
            owner = Principal(user_id=user.id, org_id=user.org_id, email=user.email, role=user.role)
            collection = await service.create_collection(session, owner, name="notes")
            ids = []
            for n, text in enumerate(texts):
                spooled = await store.spool(_chunks(text.encode()), 1 << 20)
                upload = await service.upload(
                    session,
                    store,
                    owner,
                    collection_id=collection.id,
                    filename=f"note-{n}.txt",
                    spooled=spooled,
                )
                ids.append(upload.document.id)
            return ids
    finally:
        if bus is not None:
            await bus.stop()
        await engine.dispose()


async def documents(database_url: str) -> dict[uuid.UUID, Document]:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            return {d.id: d for d in await session.scalars(select(Document))}
    finally:
        await engine.dispose()


async def wait_for(
    database_url: str, done: Callable[[dict[uuid.UUID, Document]], bool], timeout: float
) -> dict[uuid.UUID, Document]:
    """Poll the database until `done` holds of its documents."""
    deadline = time.monotonic() + timeout
    while True:
        found = await documents(database_url)
        if done(found):
            return found
        assert time.monotonic() < deadline, {d.name: d.status for d in found.values()}
        await asyncio.sleep(0.1)


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "autan", "worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop_worker(worker: subprocess.Popen[bytes]) -> int:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
    try:
        return worker.wait(30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
        raise


def events(log: Path, name: str) -> list[dict[str, object]]:
    """The JSON log lines of one event."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("event") == name:
                found.append(entry)
    return found


def ready(expected: int) -> Callable[[dict[uuid.UUID, Document]], bool]:
    return lambda found: sum(d.status == DocumentStatus.READY for d in found.values()) >= expected


async def test_two_workers_process_each_document_exactly_once(
    database_url: str, tmp_path: Path, quick_sim: SimUpstream
) -> None:
    quick_sim.reset()
    env = worker_env(tmp_path, database_url, [quick_sim])
    texts = [f"Note {n}. " + " ".join(WORDS[n % 12 :] + WORDS[: n % 12]) for n in range(50)]
    ids = await queue_documents(database_url, tmp_path / "data", texts)
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    workers = [start_worker(env, log) for log in logs]
    try:
        found = await wait_for(database_url, ready(50), timeout=60)
    finally:
        codes = [stop_worker(w) for w in workers]
    assert codes == [0, 0]
    assert all(d.status == DocumentStatus.READY and d.attempts == 0 for d in found.values())
    # Each document was finished by exactly one worker, and both workers took some.
    finished = [[e["document_id"] for e in events(log, "document_ready")] for log in logs]
    assert Counter(finished[0] + finished[1]) == Counter(str(i) for i in ids)
    assert all(finished), [len(f) for f in finished]
    # ... and embedded once: one request per (one-passage) document, no chunk twice.
    assert quick_sim.stats()["completed"] == 50
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            rows = (
                await session.execute(
                    select(
                        Chunk.document_id, func.count(), func.count(func.distinct(Chunk.position))
                    ).group_by(Chunk.document_id)
                )
            ).all()
    finally:
        await engine.dispose()
    assert {row[0]: (row[1], row[2]) for row in rows} == dict.fromkeys(ids, (1, 1))


async def test_a_killed_workers_document_is_taken_over(
    database_url: str, tmp_path: Path, slow_sim: SimUpstream
) -> None:
    slow_sim.reset()
    env = worker_env(tmp_path, database_url, [slow_sim], STALE_AFTER="1")
    [document_id] = await queue_documents(database_url, tmp_path / "data", ["Une note courte."])
    first = start_worker(env, tmp_path / "worker-a.log")
    try:
        await wait_for(
            database_url,
            lambda found: found[document_id].status == DocumentStatus.INDEXING,
            timeout=30,
        )
        # INDEXING is written before the embedding call leaves: kill it only once the call
        # has reached the upstream, so that the takeover really repeats the call.
        await eventually(lambda: slow_sim.stats()["started"] >= 1, timeout=30)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    second = start_worker(env, tmp_path / "worker-b.log")
    try:
        found = await wait_for(database_url, ready(1), timeout=40)
    finally:
        assert stop_worker(second) == 0
    # Recovered once (its heartbeat stopped), then finished by the other worker.
    assert found[document_id].attempts == 1
    assert found[document_id].chunk_count == 1
    assert [e["document_id"] for e in events(tmp_path / "worker-b.log", "document_ready")] == [
        str(document_id)
    ]
    assert events(tmp_path / "worker-a.log", "document_ready") == []
    assert slow_sim.stats()["started"] == 2


async def test_sigterm_gives_the_document_back_at_once(
    sqlite_databases: SqliteDatabases, tmp_path: Path, slow_sim: SimUpstream
) -> None:
    database_url = sqlite_databases.new()
    # Without a grace period, and with a stale_after far away: only the release requeues it.
    env = worker_env(tmp_path, database_url, [slow_sim], STOP_GRACE="0", STALE_AFTER="600")
    [document_id] = await queue_documents(database_url, tmp_path / "data", ["Une note."])
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        await wait_for(
            database_url,
            lambda found: found[document_id].status == DocumentStatus.INDEXING,
            timeout=30,
        )
    finally:
        assert stop_worker(worker) == 0
    found = await documents(database_url)
    assert found[document_id].status == DocumentStatus.QUEUED
    assert found[document_id].attempts == 0  # a shutdown is not the document's fault


async def test_a_documents_batches_are_spread_over_the_replicas(
    sqlite_databases: SqliteDatabases, tmp_path: Path
) -> None:
    replicas = [start_sim("--ttft-ms", "300"), start_sim("--ttft-ms", "300")]
    try:
        database_url = sqlite_databases.new()
        env = worker_env(tmp_path, database_url, replicas, max_concurrent=2, EMBED_BATCH="1")
        paragraphs = [
            f"Paragraphe {n}. " + " ".join(f"{w}{n}" for w in WORDS * 12) for n in range(8)
        ]
        await queue_documents(database_url, tmp_path / "data", ["\n\n".join(paragraphs)])
        worker = start_worker(env, tmp_path / "worker.log")
        try:
            found = await wait_for(database_url, ready(1), timeout=40)
        finally:
            assert stop_worker(worker) == 0
        [document] = found.values()
        stats = [r.stats() for r in replicas]
    finally:
        for replica in replicas:
            replica.stop()
    assert document.chunk_count is not None and document.chunk_count >= 6
    assert sum(s["completed"] for s in stats) == document.chunk_count
    # Both replicas worked, each on two batches at once (its cap): 4 batches in flight,
    # where awaiting them one at a time never had more than 1.
    assert [s["max_in_flight"] for s in stats] == [2, 2]


async def test_an_upload_wakes_a_separate_worker_at_once(
    sqlite_databases: SqliteDatabases, tmp_path: Path, quick_sim: SimUpstream
) -> None:
    """A worker polling once a minute still starts on an upload made elsewhere within a second
    or so: the upload's `DocumentsQueued` event reaches it over the database transport."""
    database_url = sqlite_databases.new()
    env = worker_env(tmp_path, database_url, [quick_sim], POLL_INTERVAL="60")
    [first] = await queue_documents(database_url, tmp_path / "data", ["Une première note."])
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        # The document queued before it started is claimed at start; then the worker idles.
        await wait_for(database_url, ready(1), timeout=60)
        [second] = await queue_documents(
            database_url, tmp_path / "data", ["Une seconde note."], announce=True
        )
        # Far below the 60 s poll: only the event can have woken it.
        found = await wait_for(database_url, ready(2), timeout=15)
    finally:
        stop_worker(worker)
    assert {first, second} <= set(found)
