"""Reading the models file: YAML and TOML, with errors that say what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from autan.llm.config import ModelType, load_models_file
from autan.llm.errors import ModelsFileError

YAML = """
models:
  - id: petit
    display_name: Petit modèle
    description: Petit modèle, rapide
    context_length: 8192
    capabilities: [chat, tools]
    replicas:
      - url: http://vllm-1:8000/v1
        api_key: secret-1
        max_concurrent: 32
      - url: http://vllm-2:8000/v1
  - id: e5
    type: embedding
    dimensions: 384
    replicas: [{url: "http://tei:8080/v1"}]
"""

TOML = """
[[models]]
id = "grand"
description = "Grand modèle, plus précis"
upstream_model = "mistral-small"
[[models.replicas]]
url = "http://vllm-3:8000/v1"
"""


def test_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(YAML)
    config = load_models_file(path)
    petit, e5 = config.models
    assert petit.type is ModelType.CHAT and petit.description == "Petit modèle, rapide"
    assert petit.replicas[0].api_key is not None
    assert petit.replicas[0].api_key.get_secret_value() == "secret-1"
    assert petit.replicas[0].max_concurrent == 32 and petit.replicas[1].max_concurrent is None
    assert e5.type is ModelType.EMBEDDING and e5.dimensions == 384


def test_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text(TOML)
    (grand,) = load_models_file(path).models
    assert grand.upstream_name == "mistral-small"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("models: [", "not valid"),
        ("models: []", "at least 1"),
        ("models:\n  - id: a\n    replicas: []", "at least 1"),
        (
            "models:\n  - id: a\n    replicas: [{url: x}]\n  - id: a\n    replicas: [{url: y}]",
            "twice",
        ),
        ("models:\n  - id: a\n    replica: [{url: x}]", "replica"),
    ],
)
def test_invalid_files_are_explained(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(text)
    with pytest.raises(ModelsFileError, match=message) as error:
        load_models_file(path)
    assert str(path) in str(error.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelsFileError, match="cannot read"):
        load_models_file(tmp_path / "nope.yaml")
