"""The routes Albert clients poll to know what is up: `/health` (OpenGateLLM answers
`{"status": "ok"}`) and `/v1/models`, `/v1/models/{model}` with the fields of
OpenGateLLM's `Model` (`object`, `id`, `type`, `aliases`, `created`, `owned_by`,
`max_context_length`, `costs.prompt_tokens`, `costs.completion_tokens`).
"""

from __future__ import annotations

from pathlib import Path

import httpx

from autan.llm.config import ModelsConfig
from tests.conftest import make_settings, serve_autan
from tests.support.database import SqliteDatabases


async def test_health_and_models_answer_in_albert_shape(
    tmp_path: Path, sqlite_databases: SqliteDatabases, embedded_models: ModelsConfig
) -> None:
    settings = make_settings(tmp_path, sqlite_databases.new(), embedded_models)
    async with serve_autan(settings) as autan, autan.client() as client:
        async with httpx.AsyncClient(base_url=autan.base_url) as anonymous:
            health = await anonymous.get("/health")
            listed_anonymously = await anonymous.get("/v1/models")
        listed = await client.get("/v1/models")
        first = listed.json()["data"][0]
        one = await client.get(f"/v1/models/{first['id']}")
        missing = await client.get("/v1/models/no-such-model")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert listed_anonymously.status_code == 401
    assert listed.json()["object"] == "list"
    ids = {model.id for model in embedded_models.models}
    assert {model["id"] for model in listed.json()["data"]} == ids
    for model in listed.json()["data"]:
        assert model["object"] == "model" and isinstance(model["created"], int)
        assert isinstance(model["owned_by"], str) and isinstance(model["aliases"], list)
        assert set(model["costs"]) == {"prompt_tokens", "completion_tokens"}
        assert model["max_context_length"] is None or model["max_context_length"] > 0
    assert one.json() == first
    assert missing.status_code == 404
