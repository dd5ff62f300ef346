"""The real embedded models (SmolLM2 chat, e5 embeddings), started once for the test session.

Tests that need a real model take `embedded_models` (a models file's content pointing at the
running children) and pass it to `make_settings`; each test still gets its own Autan.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from autan.llm.config import ModelsConfig
from autan.llm.embedded.supervisor import EmbeddedModels
from autan.llm.settings import EmbeddedSettings


@pytest.fixture(scope="session")
def embedded_models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelsConfig]:
    # Under pytest-xdist each worker starts its own servers: their threads share the cores
    # instead of each claiming all of them (llama.cpp's threads spin while they wait).
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    threads = max(1, (os.cpu_count() or 1) // workers)
    supervisor = EmbeddedModels(
        EmbeddedSettings(chat_model="smollm2-135m", threads=threads),
        tmp_path_factory.mktemp("embedded-models"),
    )
    models = supervisor.start()
    try:
        yield models
    finally:
        supervisor.stop()
