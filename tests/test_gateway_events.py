"""The gateway reports each finished call as an event, with the status it answered."""

from __future__ import annotations

import uuid

import aiohttp
import pytest

from autan.accounts.models import Role
from autan.accounts.principal import Principal
from autan.core.events import EventBus
from autan.core.metrics import Metrics
from autan.llm.config import ModelConfig, ReplicaConfig
from autan.llm.errors import ModelOverloaded
from autan.llm.events import CallFinished
from autan.llm.gateway import Call, Gateway
from autan.llm.pool import ModelPool
from autan.llm.settings import GatewaySettings


async def test_an_overload_is_recorded_as_the_503_it_answered() -> None:
    config = ModelConfig(
        id="m", max_concurrent=1, replicas=[ReplicaConfig(url="http://127.0.0.1:9/v1", name="r0")]
    )
    pool = ModelPool(config, queue_size=0, queue_timeout=1.0, retry_after=3)
    bus = EventBus(None)
    finished: list[CallFinished] = []
    bus.subscribe(CallFinished, finished.append)
    metrics = Metrics()
    async with aiohttp.ClientSession() as http:
        gateway = Gateway({"m": pool}, http, GatewaySettings(), metrics, bus)
        held = await pool.acquire()  # the only slot is taken and nobody may queue
        who = Principal(uuid.uuid4(), uuid.uuid4(), "a@example.fr", Role.MEMBER)
        with pytest.raises(ModelOverloaded):
            await gateway.complete(Call(who, "chat", "m"), pool, "/chat/completions", {})
        pool.release(held)
    metrics.close()
    assert [(e.status, e.error_code, e.user_id, e.model) for e in finished] == [
        (503, ModelOverloaded.code, who.user_id, "m")
    ]
