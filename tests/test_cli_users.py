"""`autan users list / set-role / disable / enable`, run in-process (Typer's test runner)."""

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


def test_list_change_role_disable_enable(runner: CliRunner) -> None:
    for email, org in (("a@agri.gouv.fr", "agri"), ("b@culture.gouv.fr", "culture")):
        assert runner.invoke(app, ["users", "create", email, "--org", org]).exit_code == 0
    listed = runner.invoke(app, ["users", "list"]).stdout.splitlines()
    assert listed == [
        "a@agri.gouv.fr\tmember\tagri\tactive",
        "b@culture.gouv.fr\tmember\tculture\tactive",
    ]
    assert runner.invoke(app, ["users", "list", "--org", "culture"]).stdout.count("\n") == 1
    assert runner.invoke(app, ["users", "list", "--search", "AGRI"]).stdout.startswith("a@")
    assert runner.invoke(app, ["users", "set-role", "A@agri.gouv.fr", "referent"]).exit_code == 0
    assert runner.invoke(app, ["users", "disable", "a@agri.gouv.fr"]).exit_code == 0
    assert "referent\tagri\tdisabled" in runner.invoke(app, ["users", "list"]).stdout
    assert runner.invoke(app, ["users", "enable", "a@agri.gouv.fr"]).exit_code == 0
    assert "referent\tagri\tactive" in runner.invoke(app, ["users", "list"]).stdout


def test_unknown_users_and_roles(runner: CliRunner) -> None:
    missing = runner.invoke(app, ["users", "disable", "nobody@agri.gouv.fr"])
    assert missing.exit_code == 1 and "No user" in missing.output
    bad_role = runner.invoke(app, ["users", "set-role", "x@agri.gouv.fr", "king"])
    assert bad_role.exit_code == 2
