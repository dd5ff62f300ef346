"""The `autan` command line, as an operator uses it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def run(data: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AUTAN_DATA_DIR": str(data)}
    return subprocess.run(
        [sys.executable, "-m", "autan", *args], env=env, input=stdin, capture_output=True, text=True
    )


@pytest.fixture
def data(tmp_path: Path) -> Path:
    assert run(tmp_path, "migrate").returncode == 0
    return tmp_path


def test_users_and_keys(data: Path) -> None:
    created = run(
        data, "users", "create", "Ref@Agri.gouv.fr", "--role", "referent", "--org", "agri"
    )
    assert created.returncode == 0 and "ref@agri.gouv.fr" in created.stderr
    key = run(data, "keys", "create", "ref@agri.gouv.fr", "--name", "scripts")
    assert key.returncode == 0
    assert key.stdout.startswith("sk-autan-") and key.stdout.count("\n") == 1
    with_password = run(
        data, "users", "create", "b@agri.gouv.fr", "--password-stdin", stdin="s3cret!\n"
    )
    assert with_password.returncode == 0


def test_errors_are_one_clear_line(data: Path) -> None:
    run(data, "users", "create", "a@b.fr")
    again = run(data, "users", "create", "a@b.fr")
    assert again.returncode == 1 and "already exists" in again.stderr
    assert "Traceback" not in again.stderr
    missing = run(data, "keys", "create", "nobody@b.fr")
    assert missing.returncode == 1 and "No user" in missing.stderr and missing.stdout == ""
    bad_role = run(data, "users", "create", "c@b.fr", "--role", "emperor")
    assert bad_role.returncode == 2 and "emperor" in bad_role.stderr


def test_organisations_and_access_codes(data: Path) -> None:
    created = run(data, "orgs", "create", "culture", "--name", "Ministère de la Culture",
                  "--domain", "culture.gouv.fr")  # fmt: skip
    assert created.returncode == 0
    assert run(data, "orgs", "create", "culture").returncode == 1
    assert "slug" in run(data, "orgs", "create", "Not A Slug").stderr
    code = run(data, "codes", "create", "--org", "culture", "--uses", "3", "--days", "7")
    assert code.returncode == 0
    assert len(code.stdout.strip()) == 19 and code.stdout.count("\n") == 1
    missing = run(data, "codes", "create", "--org", "nowhere")
    assert missing.returncode == 1 and "No such organisation" in missing.stderr
    listed = run(data, "orgs", "list").stdout
    assert "culture\t0\tMinistère de la Culture" in listed
