"""The tests' own settings ignore the `.env` and the `AUTAN_*` environment of whoever runs them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autan.settings import Settings
from tests.conftest import isolate_settings

BOGUS = "postgresql+asyncpg://bogus:bogus@nowhere.invalid/bogus"


def test_a_developer_env_file_and_variables_do_not_reach_test_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    developer = tmp_path / "checkout"
    developer.mkdir()
    (developer / ".env").write_text(f"AUTAN_DATABASE_URL={BOGUS}\nAUTAN_REDIS_URL=redis://x\n")
    monkeypatch.chdir(developer)
    monkeypatch.setenv("AUTAN_DATABASE_URL", BOGUS)  # as if exported in the shell
    # Without the isolation, this `.env` is read: the check below is not vacuous.
    assert Settings(_env_file=".env").redis_url == "redis://x"
    with pytest.MonkeyPatch.context() as patch:
        isolate_settings(patch, tmp_path)
        assert "AUTAN_DATABASE_URL" not in os.environ
        settings = Settings(data_dir=tmp_path / "data")
        assert settings.database_url != BOGUS and settings.redis_url != "redis://x"
    assert os.environ["AUTAN_DATABASE_URL"] == BOGUS  # restored after the block


def test_the_session_runs_isolated() -> None:
    assert not [name for name in os.environ if name.startswith("AUTAN_")]
    assert Settings.model_config.get("env_file") is None
    # Child `autan` processes inherit this directory: a clean one, not the checkout's.
    assert Path.cwd() != Path(__file__).parents[1] and not (Path.cwd() / ".env").exists()
