"""The in-process model client against the real embedded models."""

from __future__ import annotations

import math
import uuid
from pathlib import Path

import pytest

from autan.accounts.models import Role
from autan.accounts.principal import Principal
from autan.llm.client import ModelClient
from autan.llm.config import ModelsConfig
from autan.llm.errors import ModelNotFound
from tests.conftest import make_settings, serve_autan

pytestmark = pytest.mark.slow


async def test_stream_complete_and_embed(
    tmp_path: Path, sqlite_databases: object, embedded_models: ModelsConfig
) -> None:
    url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    async with serve_autan(make_settings(tmp_path, url, embedded_models)) as autan:
        client: ModelClient = autan.app.state.services.models  # type: ignore[attr-defined]
        who = Principal(uuid.uuid4(), uuid.uuid4(), "x@example.org", Role.MEMBER)
        chat = client.chat_models()[0]
        pieces = [
            piece
            async for piece in client.stream_chat(
                who, chat, [{"role": "user", "content": "Say hello."}], max_tokens=8
            )
        ]
        assert pieces and "".join(pieces).strip()
        whole = await client.complete_chat(
            who, chat, [{"role": "user", "content": "Say hello."}], max_tokens=8
        )
        assert whole.strip()
        model = client.embedding_models()[0]
        passages = await client.embed(
            who, model, ["Le chat dort.", "Bonjour"], input_type="passage"
        )
        query = await client.embed(who, model, ["Le chat dort."], input_type="query")
        assert len(passages) == 2 and len(passages[0]) == 384
        assert math.isclose(sum(x * x for x in passages[0]), 1.0, rel_tol=1e-3)
        assert passages[0] != query[0]  # the e5 prefix differs
        # A search prompt longer than e5 reads is cut to what the models file allows.
        long = "Le conseil municipal délibère. " * 330
        head = long[:4096]
        assert await client.embed(who, model, [long], input_type="query") == await client.embed(
            who, model, [head], input_type="query"
        )
        with pytest.raises(ModelNotFound):
            await client.complete_chat(who, "nope", [])
