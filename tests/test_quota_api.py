"""Quotas on the API: 429 with Retry-After in plain words, organisation and role rules, and
limits shared through a real Redis by two server processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from autan.accounts import service
from autan.accounts.models import Organisation, Role
from autan.accounts.models import QuotaRule as QuotaRuleRow
from autan.core.db import create_engine, session_factory
from autan.llm.config import ModelConfig, ModelsConfig, ReplicaConfig, dump_models_file
from tests.conftest import RunningAutan, free_port, make_settings, serve_autan
from tests.support.processes import SimUpstream, start_sim
from tests.support.redis_fixtures import redis_url  # noqa: F401  (fixture)

CHAT = {"model": "m", "messages": [{"role": "user", "content": "Bonjour"}]}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimUpstream]:
    upstream = start_sim("--ttft-ms", "0", "--tokens-per-s", "0", "--tokens", "3")
    yield upstream
    upstream.stop()


def models(sim: SimUpstream) -> ModelsConfig:
    return ModelsConfig(models=[ModelConfig(id="m", replicas=[ReplicaConfig(url=sim.api_url)])])


@pytest.fixture
async def autan(sim: SimUpstream, tmp_path: Path, database_url: str) -> AsyncIterator[RunningAutan]:
    settings = make_settings(tmp_path, database_url, models(sim), quotas={})
    async with serve_autan(settings) as running:
        yield running


async def test_the_eleventh_request_of_a_minute_waits(autan: RunningAutan) -> None:
    async with autan.client() as client:
        statuses = [
            (await client.post("/v1/chat/completions", json=CHAT)).status_code for _ in range(10)
        ]
        refused = await client.post("/v1/chat/completions", json=CHAT)
        embeddings = await client.post("/v1/embeddings", json={"model": "m", "input": "x"})
    assert statuses == [200] * 10
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    error = refused.json()["error"]
    assert error["type"] == "rate_limit_error" and error["code"] == "quota_requests_per_minute"
    assert "10 requests per minute" in error["message"] and "seconds" in error["message"]
    assert embeddings.status_code in (400, 429), "every model request counts, whatever its kind"


async def test_organisation_and_role_rules(
    sim: SimUpstream, tmp_path: Path, database_url: str
) -> None:
    engine = create_engine(database_url)
    async with session_factory(engine)() as session:
        referent = await service.create_user(
            session, "ref@agri.gouv.fr", role=Role.REFERENT, org_slug="agri"
        )
        ref_key = (await service.create_api_key(session, referent.email)).secret
        org = await session.get(Organisation, referent.org_id)
        assert org is not None
        session.add(QuotaRuleRow(org_id=org.id, requests_per_minute=2))
        session.add(QuotaRuleRow(org_id=org.id, role=Role.REFERENT, requests_per_minute=0))
        member = await service.create_user(session, "agent@agri.gouv.fr", org_slug="agri")
        member_key = (await service.create_api_key(session, member.email)).secret
        await session.commit()
    await engine.dispose()
    settings = make_settings(tmp_path, database_url, models(sim), quotas={})
    async with serve_autan(settings) as autan, httpx.AsyncClient(base_url=autan.base_url) as client:

        async def ask(key: str) -> int:
            headers = {"Authorization": f"Bearer {key}"}
            return (
                await client.post("/v1/chat/completions", json=CHAT, headers=headers)
            ).status_code

        assert [await ask(member_key) for _ in range(3)] == [200, 200, 429]
        assert [await ask(ref_key) for _ in range(12)] == [200] * 12, "0 lifts the limit"


def serve_process(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "autan", "serve", "--port", str(port), "--no-migrate"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        assert process.poll() is None, "the server exited"
        try:
            if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not start")


@pytest.mark.slow  # two `autan serve` processes
def test_two_processes_share_the_limit_through_redis(
    sim: SimUpstream,
    tmp_path: Path,
    redis_url: str,  # noqa: F811
) -> None:
    models_file = tmp_path / "models.yaml"
    dump_models_file(models(sim), models_file)
    env = {
        **os.environ,
        "AUTAN_DATA_DIR": str(tmp_path / "data"),
        "AUTAN_MODELS_FILE": str(models_file),
        "AUTAN_REDIS_URL": redis_url,
        "AUTAN_QUOTAS__REQUESTS_PER_MINUTE": "10",
    }
    run = {"env": env, "check": True, "capture_output": True, "text": True}
    subprocess.run([sys.executable, "-m", "autan", "migrate"], **run)  # type: ignore[call-overload]
    email = f"agent-{uuid.uuid4().hex[:8]}@interieur.gouv.fr"
    subprocess.run([sys.executable, "-m", "autan", "users", "create", email], **run)  # type: ignore[call-overload]
    key = subprocess.run(
        [sys.executable, "-m", "autan", "keys", "create", email], **run
    ).stdout.strip()  # type: ignore[call-overload]
    ports = [free_port(), free_port()]
    servers = [serve_process(env, port, tmp_path / f"serve-{port}.log") for port in ports]
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for url, process in zip(urls, servers, strict=True):
            wait_ready(url, process)
        headers = {"Authorization": f"Bearer {key}"}
        answers = [
            httpx.post(f"{urls[i % 2]}/v1/chat/completions", json=CHAT, headers=headers, timeout=10)
            for i in range(12)
        ]
    finally:
        for process in servers:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(10)
    assert [a.status_code for a in answers] == [200] * 10 + [429, 429]
    assert all(1 <= int(a.headers["retry-after"]) <= 60 for a in answers[10:])


async def test_searches_count_like_other_model_requests(
    sim: SimUpstream, tmp_path: Path, database_url: str
) -> None:
    search = {"prompt": "budget", "collections": [str(uuid.uuid4())]}
    settings = make_settings(tmp_path, database_url, models(sim), quotas={"requests_per_minute": 2})
    async with serve_autan(settings) as autan, autan.client() as client:
        first = await client.post("/v1/search", json=search)
        chat = await client.post("/v1/chat/completions", json=CHAT)
        refused = await client.post("/v1/search", json=search)
    assert first.status_code == 404 and chat.status_code == 200  # no such collection
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "quota_requests_per_minute"
