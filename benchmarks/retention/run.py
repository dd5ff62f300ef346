"""The retention purge of many conversations, and whether the database stays usable meanwhile.

Usage: .venv/bin/python benchmarks/retention/run.py [--conversations N] [--engine sqlite|postgresql]
Seeds N old conversations (two messages each) in one organisation, then runs
`retention.service.purge` while a probe writes (a new conversation of another organisation)
and reads (a person's sidebar) every 20 ms on its own connection. The longest probe wait is
the longest lock the purge held as another user feels it. Writes
benchmarks/results/retention-<engine>.md and .json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts import service as accounts
from autan.accounts.models import Role
from autan.chat.models import Conversation, Message
from autan.core.db import create_engine, session_factory, utcnow
from autan.core.migrate import upgrade
from autan.documents.storage import FileStore
from autan.retention import service as retention

RESULTS = Path(__file__).resolve().parents[1] / "results"
CHUNK = 5_000
Factory = async_sessionmaker[AsyncSession]


async def _seed(factory: Factory, conversations: int) -> tuple[uuid.UUID, uuid.UUID]:
    async with factory() as session:
        people = [
            await accounts.create_user(session, f"p{n}@agri.gouv.fr", org_slug="agri")
            for n in range(50)
        ]
        other = await accounts.create_user(
            session, "probe@culture.gouv.fr", role=Role.MEMBER, org_slug="culture"
        )
        old = utcnow() - timedelta(days=200)
        for start in range(0, conversations, CHUNK):
            size = min(CHUNK, conversations - start)
            rows = [
                {
                    "id": uuid.uuid4(),
                    "user_id": people[(start + i) % len(people)].id,
                    "org_id": people[0].org_id,
                    "title": "Ancienne conversation",
                    "title_source": "model",
                    "model": "petit",
                    "message_count": 2,
                    "created_at": old,
                    "updated_at": old,
                }
                for i in range(size)
            ]
            await session.execute(insert(Conversation), rows)
            messages = [
                {
                    "id": uuid.uuid4(),
                    "conversation_id": row["id"],
                    "position": position,
                    "role": "user" if position == 0 else "assistant",
                    "content": "Une question et sa réponse d'une longueur ordinaire. " * 8,
                    "status": "complete",
                    "created_at": old,
                }
                for row in rows
                for position in (0, 1)
            ]
            await session.execute(insert(Message), messages)
            await session.commit()
        await retention.set_rule(
            session,
            people[0].org_id,
            None,
            conversation_days=90,
            document_days=None,
            usage_days=None,
        )
        return other.id, other.org_id


async def _probe(
    factory: Factory, user_id: uuid.UUID, org_id: uuid.UUID, stop: asyncio.Event, waits: list[float]
) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        async with factory() as session:
            session.add(Conversation(user_id=user_id, org_id=org_id, title="probe", model="petit"))
            await session.commit()
            await session.scalar(
                select(func.count())
                .select_from(Conversation)
                .where(Conversation.user_id == user_id)
            )
        waits.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.02)


async def main(url: str, conversations: int) -> dict[str, Any]:
    engine = create_engine(url)
    await upgrade(engine)
    factory = session_factory(engine)
    t0 = time.perf_counter()
    probe_user, probe_org = await _seed(factory, conversations)
    seeded = time.perf_counter() - t0
    before: list[float] = []
    stop = asyncio.Event()
    warm = asyncio.create_task(_probe(factory, probe_user, probe_org, stop, before))
    await asyncio.sleep(2)
    stop.set()
    await warm
    during: list[float] = []
    stop = asyncio.Event()
    probe = asyncio.create_task(_probe(factory, probe_user, probe_org, stop, during))
    t0 = time.perf_counter()
    done = await retention.purge(factory, FileStore(Path(tempfile.mkdtemp())))
    purge_seconds = time.perf_counter() - t0
    stop.set()
    await probe
    async with factory() as session:
        left = await session.scalar(select(func.count()).select_from(Message))
    await engine.dispose()
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return {
        "engine": url.split(":")[0],
        "conversations": conversations,
        "seed_seconds": round(seeded, 1),
        "purged": done.conversations,
        "messages_left": left,
        "purge_seconds": round(purge_seconds, 1),
        "per_second": round(done.conversations / purge_seconds),
        "probe_ms_before": {
            "p50": round(statistics.median(before), 1),
            "max": round(max(before), 1),
        },
        "probe_ms_during": {
            "p50": round(statistics.median(during), 1),
            "p99": round(statistics.quantiles(during, n=100)[98], 1),
            "max": round(max(during), 1),
            "samples": len(during),
        },
        "load": load,
    }


def _report(result: dict[str, Any]) -> str:
    during, before = result["probe_ms_during"], result["probe_ms_before"]
    return "\n".join(
        [
            "# Retention purge",
            "",
            f"Engine {result['engine']}: {result['conversations']:,} conversations older than "
            f"the rule (two messages each) seeded in {result['seed_seconds']} s, purged in "
            f"batches of {retention.BATCH} (one transaction each).",
            f"Machine load: `{result['load']}` (shared 2-core machine).",
            "",
            "| figure | value |",
            "|---|---|",
            f"| conversations purged | {result['purged']:,} |",
            f"| messages left | {result['messages_left']:,} |",
            f"| purge time | {result['purge_seconds']} s ({result['per_second']:,}/s) |",
            f"| probe (write + read) before, p50 / max | {before['p50']} / {before['max']} ms |",
            f"| probe during the purge, p50 / p99 | {during['p50']} / {during['p99']} ms |",
            f"| longest probe wait during the purge (longest lock felt) | {during['max']} ms |",
            f"| probe samples during the purge | {during['samples']} |",
            "",
        ]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    server = None
    if args.engine == "postgresql":
        import pgserver

        folder = tempfile.mkdtemp()
        server = pgserver.get_server(folder, cleanup_mode="stop")  # type: ignore[attr-defined]
        server.psql("CREATE DATABASE bench")
        database_url = f"postgresql+asyncpg://postgres@/bench?host={folder}"
    else:
        database_url = f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/retention.db"
    try:
        outcome = asyncio.run(main(database_url, args.conversations))
    finally:
        if server is not None:
            server.cleanup()
    RESULTS.mkdir(exist_ok=True)
    name = "postgresql" if args.engine == "postgresql" else "sqlite"
    (RESULTS / f"retention-{name}.json").write_text(json.dumps(outcome, indent=2))
    text = _report(outcome)
    (RESULTS / f"retention-{name}.md").write_text(text)
    print(text)  # noqa: T201
