"""`autan bench load` against a real Autan on loopback and the simulated upstream."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from autan.bench.crowd import run_plan
from autan.bench.load import COLUMNS, LoadPlan, parse_ramp, read_events, read_users_file
from autan.bench.users import create_bench_users
from autan.chat.models import Message
from autan.core.db import create_engine, session_factory
from autan.llm.config import ModelConfig, ModelsConfig, ModelType, ReplicaConfig
from tests.conftest import make_settings, serve_autan
from tests.support.database import SqliteDatabases
from tests.support.processes import SimUpstream, start_sim

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SIM_TTFT_MS = 20


@pytest.fixture
def sim() -> Iterator[SimUpstream]:
    upstream = start_sim("--ttft-ms", str(SIM_TTFT_MS), "--tokens-per-s", "0", "--tokens", "8")
    try:
        yield upstream
    finally:
        upstream.stop()


def sim_models(api_url: str) -> ModelsConfig:
    replicas = [ReplicaConfig(url=api_url)]
    return ModelsConfig(
        models=[
            ModelConfig(id="sim-chat", context_length=2048, replicas=replicas),
            ModelConfig(
                id="sim-embed", type=ModelType.EMBEDDING, dimensions=384, replicas=replicas
            ),
        ]
    )


@pytest.mark.slow  # `autan bench load` in a child process
async def test_planner_ramps_signed_in_users_over_the_chat_path(
    tmp_path: Path, sqlite_databases: SqliteDatabases, sim: SimUpstream
) -> None:
    database_url = sqlite_databases.new()
    settings = make_settings(tmp_path, database_url, sim_models(sim.api_url))
    output = tmp_path / "out"
    async with serve_autan(settings) as running:
        command = [
            *(sys.executable, "-m", "autan", "bench", "load", "--url", running.base_url),
            *("--create-users", "5", "--org", "bench", "--users", "5", "--ramp", "2,5"),
            *("--step-seconds", "2", "--think-seconds", "0.3", "--attach-share", "0.2"),
            *("--upstream-ttft-ms", str(SIM_TTFT_MS), "--output", str(output)),
            # Two planner processes: the people are dealt to both and their figures summed.
            *("--client-processes", "2"),
        ]
        env = {**os.environ, "AUTAN_DATABASE_URL": database_url}
        done = await asyncio.to_thread(
            subprocess.run, command, env=env, capture_output=True, text=True, timeout=50
        )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header == [title for _, title in COLUMNS]
    rows = [
        dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True))
        for line in lines[2:]
    ]
    assert [row["users"] for row in rows] == ["2", "5"]
    for row in rows:
        assert row["success %"] == "100.0", row
        assert row["errors by kind"] == "-"
        assert int(row["complete"]) > 0
        assert float(row["TTFT added p50 ms"]) < 5000
        assert float(row["tokens/s"]) > 0
    png = (output / "load.png").read_bytes()
    assert png.startswith(PNG_SIGNATURE)
    assert "![load](load.png)" in (output / "load.md").read_text()
    figures = json.loads((output / "load.json").read_text())
    # One person in five attached a file; their first answer searched it.
    assert sum(step["files_attached"] for step in figures) == 1
    assert sum(step["answers_with_sources"] for step in figures) >= 1
    accounts = read_users_file(output / "bench-users.txt")
    assert len(accounts) == 5
    # Every answer the planner counted complete was stored by the server.
    engine = create_engine(database_url)
    async with session_factory(engine)() as session:
        stored = await session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.role == "assistant", Message.status == "complete")
        )
    await engine.dispose()
    assert stored == sum(step["complete"] for step in figures)
    # The simulator answered the attached file's embeddings as well as the chat turns.
    assert sim.stats()["completed"] > 0


def test_ramp_steps() -> None:
    assert parse_ramp(100, None) == (100,)
    assert parse_ramp(100, None, steps=4) == (25, 50, 75, 100)
    assert parse_ramp(2000, "50,500,2000") == (50, 500, 2000)
    assert parse_ramp(2000, "250,1000") == (250, 1000, 2000)
    assert parse_ramp(200, "200") == (200,)
    with pytest.raises(ValueError, match="increasing"):
        parse_ramp(30, "20,10")
    with pytest.raises(ValueError, match="more people"):
        parse_ramp(10, "5,20")


async def test_refusals_of_a_saturated_model_are_admission_control_not_errors(
    tmp_path: Path, sqlite_databases: SqliteDatabases
) -> None:
    # One stream at a time and no queue: most of 5 eager people are refused at once.
    slow = start_sim("--ttft-ms", "200", "--tokens-per-s", "20", "--tokens", "8")
    try:
        database_url = sqlite_databases.new()
        models = sim_models(slow.api_url)
        models.models[0].max_concurrent = 1
        settings = make_settings(tmp_path, database_url, models, queue_size=0)
        engine = create_engine(database_url)
        async with session_factory(engine)() as session:
            accounts = await create_bench_users(session, 5, "bench", "a long enough secret")
        await engine.dispose()
        plan = LoadPlan(
            urls=(), steps=(5,), step_seconds=2, think_seconds=0.1, attach_share=0, timeout=20
        )
        async with serve_autan(settings) as running:
            plan = dataclasses.replace(plan, urls=(running.base_url,))
            [row] = await run_plan(plan, accounts)
    finally:
        slow.stop()
    assert row["refused_503"] > 0, row
    assert row["complete"] > 0, row
    assert row["errors"] == 0, row
    assert row["success_pct"] == 100.0
    assert row["refusal_p95_ms"] < 5000


@pytest.mark.parametrize("size", [1, 3, 1000])
async def test_events_are_read_whatever_the_chunk_boundaries(size: int) -> None:
    body = (
        b': stream open\n\nevent: conversation\ndata: {"id": "c"}\n\n'
        b'event: delta\ndata: {"text": "tok "}\r\n\r\n'
        b'event: done\ndata: {"status": "complete", "message_id": "m"}\n\n'
    )

    async def arriving() -> AsyncIterator[bytes]:
        for start in range(0, len(body), size):
            yield body[start : start + size]

    assert [event async for event in read_events(arriving())] == [
        ("conversation", {"id": "c"}),
        ("delta", {"text": "tok "}),
        ("done", {"status": "complete", "message_id": "m"}),
    ]
