"""Drive sync benchmark: a 2,000-file mixed folder served by wsgidav on loopback.

The files are made from the service-public fiches (`../shared/data`): .txt, .md, .html and
.docx in turn, each the start of a fiche (about 1,500 characters) and its number, spread over
20 sub-folders. An Autan whose lifespan runs in this process (real worker, SQLite) syncs the
folder through its real schedule code (`DriveSyncer.run_due`), then:

1. first sync: list, download and file the 2,000 files, then wait for their ingestion;
2. state check: sync again with nothing changed (PROPFIND of every folder, ETags compared),
   five times, recording the process's RSS after each;
3. 20 files changed at the source: sync, and count what the worker ingests again.

Embeddings come from `autan.devtools.upstream_sim` (OpenAI protocol on loopback, hashed
vectors) unless `--e5`: on this shared 2-core machine the embedded e5 reads ~0.4
fiche/s (benchmarks/results/ingestion.md), so 2,000 files would take over an hour; the
sync itself does not depend on the embedding model.

    .venv/bin/python -m benchmarks.connectors.sync [--files 2000] [--e5]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import io
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from docx import Document as Docx
from sqlalchemy import func, select
from tests.support.simulated_models import simulated_models
from tests.support.webdav_server import DavServer

from autan.accounts import service as accounts
from autan.accounts.models import Role
from autan.accounts.principal import Principal
from autan.app import create_app
from autan.connectors import service as drives
from autan.connectors.models import DriveConnection
from autan.core.db import create_engine, session_factory
from autan.core.migrate import upgrade
from autan.documents import service as documents
from autan.documents.models import Document, DocumentStatus
from autan.llm.config import ModelsConfig, dump_models_file
from autan.llm.embedded.supervisor import EmbeddedModels
from autan.llm.settings import EmbeddedSettings
from autan.services import Services
from autan.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# ../shared/data beside the checkout (a worktree sits one level deeper, under wt/).
DATA = next(
    (
        base / "shared" / "data" / "service-public" / "fiches.jsonl"
        for base in (ROOT.parent, ROOT.parent.parent)
        if (base / "shared" / "data").is_dir()
    ),
    ROOT.parent / "shared" / "data" / "service-public" / "fiches.jsonl",
)
RESULTS = ROOT / "benchmarks" / "results"
KINDS = ("txt", "md", "html", "docx")
PASSWORD = "bench-app-password"


def docx_bytes(title: str, text: str) -> bytes:
    document = Docx()
    document.add_heading(title, level=1)
    for paragraph in text.split("\n"):
        if paragraph.strip():
            document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def write_folder(root: Path, count: int) -> dict[str, int]:
    """`count` files made from the fiches, in 20 sub-folders; bytes per format."""
    fiches = [json.loads(line)["text"] for line in DATA.open(encoding="utf-8")]
    sizes = dict.fromkeys(KINDS, 0)
    for n in range(count):
        text = fiches[n % len(fiches)][:1500] + f"\n\nFichier numéro {n}."
        title = text.split("\n", 1)[0][:80]
        kind = KINDS[n % len(KINDS)]
        path = root / f"dossier-{n % 20:02}" / f"fiche-{n:04}.{kind}"
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "docx":
            data = docx_bytes(title, text)
        elif kind == "html":
            body = "".join(f"<p>{p}</p>" for p in text.split("\n") if p.strip())
            data = f"<html><head><title>{title}</title></head><body>{body}</body></html>".encode()
        elif kind == "md":
            data = f"# {title}\n\n{text}".encode()
        else:
            data = text.encode()
        path.write_bytes(data)
        sizes[kind] += len(data)
    return sizes


def rss_mb() -> float:
    return round(psutil.Process().memory_info().rss / 1024 / 1024, 1)


async def counts(services: Services) -> dict[str, int]:
    async with services.session_factory() as session:
        rows = await session.execute(
            select(Document.status, func.count()).group_by(Document.status)
        )
        return {str(status): int(n) for status, n in rows.all()}


async def wait_ingested(services: Services, expected: int) -> float:
    started = time.perf_counter()
    while True:
        found = await counts(services)
        done = found.get(DocumentStatus.READY, 0) + found.get(DocumentStatus.FAILED, 0)
        if done >= expected and not any(
            found.get(s, 0)
            for s in (DocumentStatus.QUEUED, DocumentStatus.PARSING, DocumentStatus.INDEXING)
        ):
            return time.perf_counter() - started
        await asyncio.sleep(0.5)


async def sync_once(
    services: Services, me: Principal, drive_id: Any
) -> tuple[float, DriveConnection]:
    async with services.session_factory() as session:
        await drives.request_sync(session, me, drive_id)
    started = time.perf_counter()
    ran = await services.drives.syncer.run_due()
    seconds = time.perf_counter() - started
    assert ran == 1, ran
    async with services.session_factory() as session:
        connection = await session.get(DriveConnection, drive_id)
        assert connection is not None
        return seconds, connection


def outcome(seconds: float, c: DriveConnection) -> dict[str, Any]:
    return {
        "seconds": round(seconds, 2),
        "outcome": c.last_outcome,
        "seen": c.files_seen,
        "added": c.files_added,
        "updated": c.files_updated,
        "removed": c.files_removed,
        "failed": c.files_failed,
        "error": c.last_error,
        "rss_mb": rss_mb(),
    }


async def run(count: int, e5: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="autan-bench-drive-") as tmp:
        root = Path(tmp)
        sizes = write_folder(root / "drive", count)
        with DavServer(root / "drive", PASSWORD) as dav:
            if e5:
                embedded = EmbeddedModels(EmbeddedSettings(), root / "models")
                try:
                    return await measure(root, dav, embedded.start(chat=False), count, sizes)
                finally:
                    embedded.stop()
            async with simulated_models() as models:
                return await measure(root, dav, models, count, sizes)


async def measure(
    root: Path, dav: DavServer, models: ModelsConfig, count: int, sizes: dict[str, int]
) -> dict[str, Any]:
    models_file = root / "models.yaml"
    dump_models_file(models, models_file)
    settings = Settings(
        data_dir=root / "data",
        models_file=models_file,
        quotas={"enabled": False},
        # The schedule is driven by hand here (run_due), so it must not also run on its own.
        connectors={"allowed_hosts": dav.host, "enabled": False, "concurrency": 4},
    )
    settings.ensure_data_dir()
    engine = create_engine(settings.resolved_database_url)
    await upgrade(engine)
    async with session_factory(engine)() as session:
        user = await accounts.create_user(session, "bench@example.org", role=Role.MEMBER)
        me = Principal(user.id, user.org_id, user.email, user.role)
    await engine.dispose()
    app = create_app(settings)
    result: dict[str, Any] = {"files": count, "bytes": sizes, "rss_start_mb": rss_mb()}
    async with app.router.lifespan_context(app) as state:
        assert state is not None
        services: Services = state["services"]
        async with services.session_factory() as session:
            collection = await documents.create_collection(session, me, name="Drive")
            connection = await drives.connect(
                session,
                services.drives.access,
                me,
                collection_id=collection.id,
                url=dav.url,
                username="alice",
                password=PASSWORD,
            )
            drive_id = connection.id
        started = time.perf_counter()
        ran = await services.drives.syncer.run_due()
        first_sync = time.perf_counter() - started
        async with services.session_factory() as session:
            first = await session.get(DriveConnection, drive_id)
            assert first is not None and ran == 1
            result["first_sync"] = outcome(first_sync, first)
        ingest = await wait_ingested(services, count)
        result["first_ingestion"] = {
            "seconds_after_sync": round(ingest, 1),
            "total_seconds": round(first_sync + ingest, 1),
            "documents": await counts(services),
            "rss_mb": rss_mb(),
        }
        result["state_checks"] = []
        for _ in range(5):
            seconds, c = await sync_once(services, me, drive_id)
            result["state_checks"].append(outcome(seconds, c))
        before = services.documents.timings.documents
        changed = sorted((root / "drive").rglob("fiche-*"))[::100][:20]
        for path in changed:
            with path.open("ab") as out:
                out.write(b"\n" if path.suffix != ".docx" else b"")
            if path.suffix == ".docx":
                path.write_bytes(docx_bytes("Modifié", f"Version modifiée de {path.name}."))
            os.utime(path, (time.time() + 10, time.time() + 10))
        seconds, c = await sync_once(services, me, drive_id)
        result["twenty_changes"] = outcome(seconds, c)
        reingest = await wait_ingested(services, count)
        result["twenty_changes"]["reingest_seconds"] = round(reingest, 1)
        result["twenty_changes"]["documents_ingested"] = (
            services.documents.timings.documents - before
        )
        seconds, c = await sync_once(services, me, drive_id)
        result["after_changes_check"] = outcome(seconds, c)
    return result


def markdown(r: dict[str, Any], meta: dict[str, Any]) -> str:
    checks = r["state_checks"]
    lines = [
        "# Drive sync benchmark: a 2,000-file WebDAV folder",
        "",
        f"{meta['date']}, {meta['machine']}, {meta['cpus']} CPUs, Python {meta['python']}; "
        f"load average (`uptime`) at the start {meta['load_start']}, at the end "
        f"{meta['load_end']} — the machine is shared with other sessions, so seconds are "
        "upper bounds.",
        "",
        f"{r['files']} files made from the service-public fiches (txt/md/html/docx in turn, "
        f"~1,500 characters each; bytes per format {r['bytes']}) in 20 sub-folders, served "
        "by wsgidav 4.4 on cheroot (loopback, basic auth, in this process's threads). Autan's "
        "lifespan in the same process: SQLite, the real ingestion worker, embeddings "
        f"{meta['embeddings']}. Syncs run through the schedule's own code (`run_due`).",
        "",
        "| step | seconds | seen | added | updated | removed | failed | RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def row(name: str, o: dict[str, Any]) -> str:
        return (
            f"| {name} | {o['seconds']} | {o['seen']} | {o['added']} | {o['updated']} | "
            f"{o['removed']} | {o['failed']} | {o['rss_mb']} |"
        )

    lines.append(row("first sync (list + download + file)", r["first_sync"]))
    for n, o in enumerate(checks, 1):
        lines.append(row(f"state check {n} (nothing changed)", o))
    lines.append(row("20 files changed", r["twenty_changes"]))
    lines.append(row("state check after the changes", r["after_changes_check"]))
    fi = r["first_ingestion"]
    tc = r["twenty_changes"]
    lines += [
        "",
        f"- First ingestion: the sync filed {r['first_sync']['added']} documents in "
        f"{r['first_sync']['seconds']} s; the worker then finished them "
        f"{fi['seconds_after_sync']} s later ({fi['total_seconds']} s in all; statuses "
        f"{fi['documents']}).",
        f"- State of the whole folder: {min(o['seconds'] for o in checks)}–"
        f"{max(o['seconds'] for o in checks)} s per check (target ≤ 30 s).",
        f"- 20 changes: the sync updated {tc['updated']} files and the worker ingested "
        f"{tc['documents_ingested']} documents again (target: only those 20), in "
        f"{tc['reingest_seconds']} s after the sync.",
        f"- Memory: RSS {r['rss_start_mb']} MB before the lifespan, {fi['rss_mb']} MB after "
        f"the first ingestion, {checks[0]['rss_mb']} → {checks[-1]['rss_mb']} MB over the "
        "five state checks (the wsgidav server's threads are in this process too).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--e5", action="store_true", help="The embedded e5 (slow here).")
    parser.add_argument("--no-write", action="store_true", help="Print only.")
    args = parser.parse_args()
    if not DATA.exists():
        raise SystemExit(f"{DATA} is missing: this benchmark reads ../shared/data")
    load_start = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    result = asyncio.run(run(args.files, args.e5))
    meta = {
        "load_start": load_start,
        "load_end": " / ".join(f"{x:.1f}" for x in os.getloadavg()),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "embeddings": "from the embedded multilingual-e5-small"
        if args.e5
        else "from `upstream_sim` (OpenAI protocol, hashed vectors: see the module's docstring)",
    }
    text = markdown(result, meta)
    print(text)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "connectors.md").write_text(text, encoding="utf-8")
        (RESULTS / "connectors.json").write_text(
            json.dumps({"meta": meta, "result": result}, indent=2, ensure_ascii=False, default=str)
            + "\n",
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()
