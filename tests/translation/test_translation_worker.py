"""Translations are durable jobs of the worker queue: an `autan worker` killed in the middle
of a document leaves its finished sections saved, and another worker takes the job over
when its lease goes stale, resuming at the next section (no section translated twice), and
the person follows it and downloads it from the page; a SIGTERM gives the job back at once;
a job whose uploaded file is deleted meanwhile ends with a plain sentence; a job deleted
while it runs is dropped at once, never written back, and the worker goes on. Both engines; the
scripted upstream speaks the OpenAI protocol on loopback."""

from __future__ import annotations

import asyncio
import html
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import undefer

from autan.accounts import service as accounts
from autan.accounts.models import Role
from autan.accounts.principal import Principal
from autan.core.db import create_engine, session_factory
from autan.llm.config import ModelConfig, ModelsConfig, ReplicaConfig, dump_models_file
from autan.translation import service
from autan.translation.models import TranslationJob, TranslationStatus
from tests.support.database import SqliteDatabases
from tests.support.library import database
from tests.support.scripted_upstream import scripted_upstream
from tests.support.web import hidden, run_site

pytestmark = pytest.mark.slow

SECTIONS = 5
# One section per heading; each asks the scripted model to take a second (`[lent]`).
DOCUMENT = "".join(f"# Partie {n} [lent]\n\nTexte de la partie {n}.\n\n" for n in range(SECTIONS))


async def _job(database_url: str) -> TranslationJob:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            job: TranslationJob | None = await session.scalar(
                select(TranslationJob).options(undefer("*"))
            )
            assert job is not None
            return job
    finally:
        await engine.dispose()


async def wait_job(
    database_url: str, done: Callable[[TranslationJob], bool], timeout: float
) -> TranslationJob:
    """Poll the database until `done` holds of the (only) job."""
    deadline = time.monotonic() + timeout
    while True:
        job = await _job(database_url)
        if done(job):
            return job
        assert time.monotonic() < deadline, (job.status, job.sections_done, job.error)
        await asyncio.sleep(0.1)


async def queue_translation(database_url: str) -> uuid.UUID:
    """Queue a translation of DOCUMENT into English, as the web tier does."""
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            user = await accounts.create_user(session, "agent@example.org", role=Role.MEMBER)
            owner = Principal(user_id=user.id, org_id=user.org_id, email=user.email, role=user.role)
            job = await service.create(session, owner, "guide.md", DOCUMENT.encode(), "en", "s")
            return job.id
    finally:
        await engine.dispose()


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "autan", "worker"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


async def test_a_killed_workers_translation_resumes_at_the_next_section(
    database_url: str, tmp_path: Path
) -> None:
    async with scripted_upstream() as upstream:
        models = ModelsConfig(models=[ModelConfig(id="s", replicas=[ReplicaConfig(url=upstream)])])
        # The site runs no worker of its own: `autan worker` processes do the work.
        async with (
            run_site(tmp_path, database_url, models, documents={"worker_in_serve": False}) as site,
            site.signed_in("member_a") as browser,
        ):
            csrf = hidden((await browser.get("/translate")).text, "csrf_token")
            started = await browser.post(
                "/translate",
                data={"csrf_token": csrf, "target": "en"},
                files={"file": ("guide.md", DOCUMENT.encode(), "text/markdown")},
            )
            assert started.status_code == 303, started.text
            path = started.headers["location"]
            env = worker_env(tmp_path / "workers", database_url, upstream, stale_after="1")
            first = start_worker(env, tmp_path / "worker-a.log")
            try:
                await wait_job(database_url, lambda job: job.sections_done >= 2, timeout=60)
            finally:
                first.send_signal(signal.SIGKILL)  # no release: only its stale lease tells
                first.wait(10)
            killed = await _job(database_url)
            assert killed.status == TranslationStatus.RUNNING
            assert killed.result is None and killed.translated is not None
            kept = killed.sections_done
            assert 2 <= kept < SECTIONS
            # Meanwhile the page shows how far it went.
            progress = html.unescape((await browser.get(f"{path}/progress")).text)
            assert f"Sections traduites : {kept} sur {SECTIONS}" in progress
            second = start_worker(env, tmp_path / "worker-b.log")
            try:
                job = await wait_job(
                    database_url, lambda job: job.status == TranslationStatus.DONE, timeout=60
                )
            finally:
                second.send_signal(signal.SIGTERM)
                assert second.wait(30) == 0
            # The person gets the whole translation from the page.
            done = html.unescape((await browser.get(path)).text)
            assert "Télécharger la traduction" in done
            result = (await browser.get(f"{path}/download")).text
        async with httpx.AsyncClient() as client:
            listed = await client.get(upstream.removesuffix("/v1") + "/_scripted/translations")
            asked = listed.json()
    assert job.attempts == 1 and job.sections_done == SECTIONS and job.translated is None
    # Sections finished before the kill were asked once, never again by the second worker;
    # at most the one in flight at the kill was asked twice.
    counts = [sum(f"Partie {n} " in text for text in asked) for n in range(SECTIONS)]
    assert counts[:kept] == [1] * kept, counts
    assert all(count >= 1 for count in counts) and sum(counts) <= SECTIONS + 1, counts
    for n in range(SECTIONS):
        assert f"# ⟦English⟧ Partie {n} [lent]" in result
        assert f"⟦English⟧ Texte de la partie {n}." in result
    resumed = (tmp_path / "worker-b.log").read_text()
    assert '"translation_resumed"' in resumed
    assert f'"sections_done": {kept}' in resumed


def worker_env(
    tmp_path: Path, database_url: str, upstream: str, stale_after: str
) -> dict[str, str]:
    """The environment of `autan worker` processes on this database and scripted model."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    models_file = tmp_path / "models.yaml"
    chat = ModelConfig(id="s", replicas=[ReplicaConfig(url=upstream)])
    dump_models_file(ModelsConfig(models=[chat]), models_file)
    return {
        **os.environ,
        "AUTAN_DATA_DIR": str(tmp_path / "data"),
        "AUTAN_DATABASE_URL": database_url,
        "AUTAN_MODELS_FILE": str(models_file),
        "AUTAN_QUOTAS__ENABLED": "false",
        "AUTAN_LOG_JSON": "true",
        "AUTAN_DOCUMENTS__POLL_INTERVAL": "0.2",
        "AUTAN_DOCUMENTS__STALE_AFTER": stale_after,
    }


async def test_sigterm_gives_the_job_back_with_its_sections(
    sqlite_databases: SqliteDatabases, tmp_path: Path
) -> None:
    database_url = sqlite_databases.new()
    async with scripted_upstream() as upstream:
        # A stale_after far away: only the release can queue the job again.
        env = worker_env(tmp_path, database_url, upstream, stale_after="600")
        await queue_translation(database_url)
        worker = start_worker(env, tmp_path / "worker.log")
        try:
            await wait_job(database_url, lambda job: job.sections_done >= 1, timeout=60)
        finally:
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(30) == 0
    job = await _job(database_url)
    assert job.status == TranslationStatus.QUEUED
    assert job.attempts == 0  # a shutdown is not the job's fault
    assert job.translated is not None and job.sections_done >= 1
    assert job.translated[0] == "⟦English⟧ Partie 0 [lent]"


async def test_a_deleted_source_ends_the_job_in_plain_words(
    tmp_path: Path, database_url: str
) -> None:
    async with scripted_upstream() as upstream:
        models = ModelsConfig(models=[ModelConfig(id="s", replicas=[ReplicaConfig(url=upstream)])])
        async with (
            run_site(tmp_path, database_url, models) as site,
            site.signed_in("member_a") as browser,
        ):
            csrf = hidden((await browser.get("/translate")).text, "csrf_token")
            started = await browser.post(
                "/translate",
                data={"csrf_token": csrf, "target": "en"},
                files={"file": ("guide.md", DOCUMENT.encode(), "text/markdown")},
            )
            assert started.status_code == 303, started.text
            path = started.headers["location"]
            await wait_job(database_url, lambda job: job.sections_done >= 1, timeout=60)
            async with database(site) as session:
                # What deleting the uploaded file leaves of the job.
                await session.execute(update(TranslationJob).values(source=None))
                await session.commit()
            job = await wait_job(
                database_url, lambda job: job.status == TranslationStatus.FAILED, timeout=60
            )
            assert job.translated is None and job.result is None
            page = html.unescape((await browser.get(path)).text)
    assert "Le document a été supprimé avant la fin de sa traduction." in page
    assert job.sections_done < SECTIONS


async def test_deleting_a_running_translation_stops_it_and_the_worker_goes_on(
    tmp_path: Path, database_url: str
) -> None:
    # The second section's model call would last 30 s: deleting must not wait for it.
    blocked = "# Partie 0 [lent]\n\nDébut.\n\n# Partie 1 [bloqué]\n\nSuite.\n\n# Partie 2\n\nFin.\n"
    async with scripted_upstream() as upstream:
        models = ModelsConfig(models=[ModelConfig(id="s", replicas=[ReplicaConfig(url=upstream)])])
        async with (
            run_site(tmp_path, database_url, models, documents={"worker_in_serve": False}) as site,
            site.signed_in("member_a") as browser,
        ):
            # A short lease: the worker's heartbeat beats every half second.
            env = worker_env(tmp_path / "workers", database_url, upstream, stale_after="2")
            worker = start_worker(env, tmp_path / "worker.log")
            try:
                csrf = hidden((await browser.get("/translate")).text, "csrf_token")
                started = await browser.post(
                    "/translate",
                    data={"csrf_token": csrf, "target": "en"},
                    files={"file": ("bloque.md", blocked.encode(), "text/markdown")},
                )
                path = started.headers["location"]
                job_id = uuid.UUID(path.rsplit("/", 1)[1])
                running = await wait_job(database_url, lambda job: job.sections_done >= 1, 60)
                assert running.status == TranslationStatus.RUNNING
                asked = html.unescape((await browser.get(f"{path}/delete")).text)
                assert "Elle n'est pas encore terminée : la supprimer l'arrête." in asked
                deleted = await browser.post(
                    f"{path}/delete", data={"csrf_token": hidden(asked, "csrf_token")}
                )
                assert deleted.status_code == 303
                async with database(site) as session:
                    assert await session.get(TranslationJob, job_id) is None
                # The worker gives the blocked call up and takes the next job at once.
                after = time.monotonic()
                csrf = hidden((await browser.get("/translate")).text, "csrf_token")
                second = await browser.post(
                    "/translate",
                    data={"csrf_token": csrf, "target": "en"},
                    files={"file": ("suite.md", b"# Suite\n\nTexte.\n", "text/markdown")},
                )
                assert second.status_code == 303
                done = await wait_job(
                    database_url, lambda job: job.status == TranslationStatus.DONE, 20
                )
                assert time.monotonic() - after < 20  # well before the 30 s call would end
                assert done.file_name == "suite.md"
                assert worker.poll() is None  # still running
                async with database(site) as session:
                    # The deleted job never came back, whatever the worker wrote since.
                    assert list(await session.scalars(select(TranslationJob.file_name))) == [
                        "suite.md"
                    ]
            finally:
                worker.send_signal(signal.SIGTERM)
                assert worker.wait(30) == 0
    log = (tmp_path / "worker.log").read_text()
    events = [orjson.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert {"event": "translation_dropped", "job_id": str(job_id)} in [
        {"event": e.get("event"), "job_id": e.get("job_id")} for e in events
    ]
    assert "Traceback" not in log and not any(e.get("level") == "error" for e in events)
