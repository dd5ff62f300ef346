"""The `autan` command line as an operator uses it, run in-process with Typer's test runner.

(`tests/test_embedded.py` runs the real `autan` entry point as subprocesses.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from autan.cli import app


@pytest.fixture
def runner(tmp_path: Path) -> CliRunner:
    runner = CliRunner(env={"AUTAN_DATA_DIR": str(tmp_path), "AUTAN_DATABASE_URL": ""})
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    return runner


def test_users_and_keys(runner: CliRunner) -> None:
    created = runner.invoke(
        app, ["users", "create", "Ref@Agri.gouv.fr", "--role", "referent", "--org", "agri"]
    )
    assert created.exit_code == 0 and "ref@agri.gouv.fr" in created.stderr
    key = runner.invoke(app, ["keys", "create", "ref@agri.gouv.fr", "--name", "scripts"])
    assert key.exit_code == 0
    assert key.stdout.startswith("sk-autan-") and key.stdout.count("\n") == 1
    with_password = runner.invoke(
        app, ["users", "create", "b@agri.gouv.fr", "--password-stdin"], input="s3cret!\n"
    )
    assert with_password.exit_code == 0


def test_errors_are_one_clear_line(runner: CliRunner) -> None:
    runner.invoke(app, ["users", "create", "a@b.fr"])
    again = runner.invoke(app, ["users", "create", "a@b.fr"])
    assert again.exit_code == 1 and "already exists" in again.stderr
    assert "Traceback" not in again.stderr
    missing = runner.invoke(app, ["keys", "create", "nobody@b.fr"])
    assert missing.exit_code == 1 and "No user" in missing.stderr and missing.stdout == ""
    bad_role = runner.invoke(app, ["users", "create", "c@b.fr", "--role", "emperor"])
    assert bad_role.exit_code == 2 and "emperor" in bad_role.stderr


def test_organisations_and_access_codes(runner: CliRunner) -> None:
    created = runner.invoke(
        app,
        ["orgs", "create", "culture", "--name", "Ministère de la Culture",
         "--domain", "culture.gouv.fr"],
    )  # fmt: skip
    assert created.exit_code == 0
    assert runner.invoke(app, ["orgs", "create", "culture"]).exit_code == 1
    assert "slug" in runner.invoke(app, ["orgs", "create", "Not A Slug"]).stderr
    code = runner.invoke(app, ["codes", "create", "--org", "culture", "--uses", "3", "--days", "7"])
    assert code.exit_code == 0
    assert len(code.stdout.strip()) == 19 and code.stdout.count("\n") == 1
    missing = runner.invoke(app, ["codes", "create", "--org", "nowhere"])
    assert missing.exit_code == 1 and "No such organisation" in missing.stderr
    listed = runner.invoke(app, ["orgs", "list"]).stdout
    assert "culture\t0\tMinistère de la Culture" in listed


def test_an_unmigrated_database_is_one_clear_line(tmp_path: Path) -> None:
    fresh = CliRunner(env={"AUTAN_DATA_DIR": str(tmp_path / "new"), "AUTAN_DATABASE_URL": ""})
    result = fresh.invoke(app, ["users", "create", "a@b.fr"])
    assert result.exit_code == 1
    assert "database error" in result.stderr and "autan migrate" in result.stderr
    assert "Traceback" not in result.stderr
