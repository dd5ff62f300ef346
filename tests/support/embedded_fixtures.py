"""The real embedded models (SmolLM2 chat, e5 embeddings), started once for the test session.

Tests that need a real model take `embedded_models` (a models file's content pointing at the
running children) and pass it to `make_settings`; each test still gets its own Autan.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from autan.llm.config import ModelsConfig
from autan.llm.embedded.supervisor import EmbeddedModels
from autan.llm.settings import EmbeddedSettings


@pytest.fixture(scope="session")
def embedded_models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelsConfig]:
    supervisor = EmbeddedModels(
        EmbeddedSettings(chat_model="smollm2-135m"), tmp_path_factory.mktemp("embedded-models")
    )
    models = supervisor.start()
    try:
        yield models
    finally:
        supervisor.stop()
