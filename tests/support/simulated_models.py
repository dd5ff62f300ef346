"""`autan.devtools.upstream_sim` served in the test's own event loop: a chat model and an
embedding model that speak the OpenAI protocol on loopback, without a child process.

For tests about pages and plumbing rather than the model's wits: the chat answers at once
with filler text, and embeddings are unit vectors hashed from the text (equal texts, equal
vectors; no meaning), so searches find passages through the lexical index.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from autan.devtools.upstream_sim import EMBEDDING_DIM, SimConfig, build_app
from autan.llm.config import ModelConfig, ModelsConfig, ModelType, ReplicaConfig


@contextlib.asynccontextmanager
async def simulated_models() -> AsyncIterator[ModelsConfig]:
    """Serve the simulator on a free loopback port; yield a models file pointing at it."""
    runner = web.AppRunner(build_app(SimConfig(ttft_ms=0, tokens_per_s=5000, tokens=12)))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    url = f"http://{host}:{port}/v1"
    try:
        yield ModelsConfig(
            models=[
                ModelConfig(
                    id="sim-chat",
                    type=ModelType.CHAT,
                    display_name="Modèle simulé",
                    replicas=[ReplicaConfig(url=url)],
                ),
                ModelConfig(
                    id="sim-embeddings",
                    type=ModelType.EMBEDDING,
                    context_length=512,
                    dimensions=EMBEDDING_DIM,
                    replicas=[ReplicaConfig(url=url)],
                ),
            ]
        )
    finally:
        await runner.cleanup()
