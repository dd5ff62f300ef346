"""`autan ingest`: files and folders into a collection, resumable, with a summary."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autan.accounts.models import Role
from autan.cli import app
from autan.llm.config import ModelsConfig, dump_models_file
from tests.support.rag import FICHE_MD, OTHER_MD, add_user

pytestmark = pytest.mark.slow


def test_ingest_twice_skips_what_is_ready(
    tmp_path: Path, database_url: str, embedded_models: ModelsConfig
) -> None:
    asyncio.run(add_user(database_url, "admin@example.org", Role.ADMIN))
    models_file = tmp_path / "models.yaml"
    dump_models_file(embedded_models, models_file)
    runner = CliRunner(
        env={
            "AUTAN_DATA_DIR": str(tmp_path / "data"),
            "AUTAN_DATABASE_URL": database_url,
            "AUTAN_MODELS_FILE": str(models_file),
            "AUTAN_QUOTAS__ENABLED": "false",
        }
    )
    folder = tmp_path / "fiches"
    (folder / "permis").mkdir(parents=True)
    (folder / "carte.md").write_text(FICHE_MD)
    (folder / "permis" / "echange.md").write_text(OTHER_MD)
    (folder / ".cache").mkdir()
    (folder / ".cache" / "ignored.md").write_text("# Hidden\n\nNot ingested.")
    # A path longer than a terminal line: the report must print it whole, not wrapped.
    broken = tmp_path / ("dossier-de-la-direction-des-affaires-juridiques-" * 2) / "casse.pdf"
    broken.parent.mkdir()
    broken.write_bytes(b"%PDF-1.7\n1 0 obj << /Type")

    first = runner.invoke(app, ["ingest", str(folder), str(broken), "--collection", "Fiches"])
    assert first.exit_code == 1, first.output
    assert "2 ready, 0 skipped (already ingested), 1 failed" in first.output
    assert f"{broken}: The file could not be read" in first.output

    broken.unlink()
    second = runner.invoke(app, ["ingest", str(folder), "--collection", "Fiches"])
    assert second.exit_code == 0, second.output
    assert "0 ready, 2 skipped (already ingested), 0 failed" in second.output

    missing = runner.invoke(
        app, ["ingest", str(folder), "--collection", "x", "--owner", "no@x.org"]
    )
    assert missing.exit_code == 1 and "No user with the email no@x.org" in missing.output
