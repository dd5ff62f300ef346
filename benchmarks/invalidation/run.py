"""How long a change made in process A takes to reach the caches of process B.

Process A commits 100 changes (each a transaction emitting `QuotaRulesChanged`, exactly as
`accounts.admin.set_quota` does), spaced 50-100 ms apart at random so that the database
transport's polling phase varies. Process B (a child process with its own engine and bus)
stamps the wall-clock time at which each event reaches its subscriber, which is when its
cache forgets the entry. Delay = B's stamp - A's time just after `commit()` returned (both
on this machine's clock). Run with the database transport (SQLite, 0.25 s polling) and with
Redis pub/sub (a `redis-server` started here); the database transport on SQLite and on
PostgreSQL (pgserver). Needs no shared data.

    .venv/bin/python -m benchmarks.invalidation.run [--changes 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from autan.core.db import create_engine, session_factory
from autan.core.events import EventSettings, QuotaRulesChanged, build_bus, emit
from autan.core.migrate import upgrade

RESULTS = Path(__file__).resolve().parents[1] / "results" / "invalidation.md"


async def listen(database_url: str, redis_url: str | None, count: int) -> None:
    """Process B: print `<org id> <unix time>` for each event, after a `ready` line."""
    engine = create_engine(database_url)
    bus = build_bus(session_factory(engine), redis_url, EventSettings())
    done = asyncio.Event()
    seen = 0

    def stamp(event: QuotaRulesChanged) -> None:
        nonlocal seen
        print(f"{event.org_id} {time.time():.6f}", flush=True)  # noqa: T201
        seen += 1
        if seen >= count:
            done.set()

    bus.subscribe(QuotaRulesChanged, stamp)
    await bus.start()
    await asyncio.sleep(1.0)  # subscribed (Redis) / first poll done (database)
    print("ready", flush=True)  # noqa: T201
    await asyncio.wait_for(done.wait(), timeout=120)
    await bus.stop()
    await engine.dispose()


async def change(database_url: str, redis_url: str | None, count: int) -> dict[str, float]:
    """Process A: commit `count` changes while B listens; the delays in milliseconds."""
    args = [sys.executable, "-m", "benchmarks.invalidation.run", "--listen", database_url]
    args += ["--count", str(count)] + (["--redis", redis_url] if redis_url else [])
    child = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    line = await asyncio.to_thread(child.stdout.readline)
    assert line.strip() == "ready", line
    engine = create_engine(database_url)
    factory = session_factory(engine)
    bus = build_bus(factory, redis_url, EventSettings())
    sent: dict[str, float] = {}
    for _ in range(count):
        org = uuid.uuid4()
        async with factory() as session:
            emit(session, QuotaRulesChanged(org))
            await session.commit()
        sent[str(org)] = time.time()
        await asyncio.sleep(random.uniform(0.05, 0.1))
    await bus.stop()
    out, _ = await asyncio.to_thread(child.communicate, None, 60)
    await engine.dispose()
    delays = []
    for row in out.splitlines():
        org_id, at = row.split()
        delays.append((float(at) - sent[org_id]) * 1000)
    assert len(delays) == count, f"{len(delays)} of {count} events arrived"
    return summary(delays)


def summary(delays: list[float]) -> dict[str, float]:
    ordered = sorted(delays)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return {
        "n": len(ordered),
        "p50": q[49],
        "p95": q[94],
        "p99": q[98],
        "max": ordered[-1],
    }


async def _on_postgresql(folder: str, count: int) -> dict[str, float]:
    import pgserver  # PostgreSQL 16 from PyPI, as in the tests

    root = Path(folder) / "pg"
    root.mkdir()
    Path(folder).chmod(0o755)  # pgserver runs PostgreSQL as its own user
    server = pgserver.get_server(root, cleanup_mode="stop")  # type: ignore[attr-defined]
    try:
        server.psql("CREATE DATABASE bench")
        database_url = f"postgresql+asyncpg://postgres@/bench?host={root}"
        engine = create_engine(database_url)
        await upgrade(engine)
        await engine.dispose()
        return await change(database_url, None, count)
    finally:
        server.cleanup()


async def main(count: int) -> None:
    from tests.support.redis_fixtures import start_redis  # a real redis-server, no disk

    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        database_url = f"sqlite+aiosqlite:///{folder}/bench.db"
        engine = create_engine(database_url)
        await upgrade(engine)
        await engine.dispose()
        rows["database (SQLite, polled every 0.25 s)"] = await change(database_url, None, count)
        rows["database (PostgreSQL, polled every 0.25 s)"] = await _on_postgresql(folder, count)
        redis = start_redis()
        try:
            rows["Redis pub/sub"] = await change(database_url, redis.url, count)
        finally:
            redis.stop()
    lines = [
        "# Invalidation delay between processes",
        "",
        f"{count} changes committed in process A (a transaction emitting an event), time until",
        "process B's subscriber ran, in ms (`benchmarks/invalidation/run.py`; 2 shared cores,",
        "other work running on the machine).",
        "",
        "| transport | n | p50 | p95 | p99 | max |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in rows.items():
        lines.append(
            f"| {name} | {s['n']:.0f} | {s['p50']:.1f} | {s['p95']:.1f} | {s['p99']:.1f} "
            f"| {s['max']:.1f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)  # noqa: T201
    RESULTS.write_text(text)
    RESULTS.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--listen", help=argparse.SUPPRESS)
    parser.add_argument("--redis", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=100, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.listen:
        asyncio.run(listen(options.listen, options.redis, options.count))
    else:
        asyncio.run(main(options.changes))
