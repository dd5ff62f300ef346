"""Hostile files end `ready` or `failed` with a translated reason, in bounded memory and time.

The heavy assertions run the extraction of each file of the corpus (tests/documents/hostile.py)
in a forked child with its address space capped, and read its peak memory; a subset then goes
end to end through the real worker, with a normal file queued after them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pypdfium2 as pdfium
import pytest
from babel.numbers import format_decimal
from sqlalchemy import select, update

from autan.accounts.models import Organisation
from autan.core.db import create_engine, session_factory
from autan.documents.chunking import chunk
from autan.documents.extraction import ExtractionLimits, extract
from autan.documents.extraction.errors import (
    PageTooLarge,
    TooManyPassages,
    TooMuchText,
    UnpackedTooLarge,
)
from autan.documents.extraction.model import Block, ExtractedDocument
from autan.documents.extraction.pdf import _ocr_scale
from autan.documents.extraction.sniff import check_zip
from autan.documents.models import Chunk, Document
from autan.documents.settings import DocumentSettings
from autan.documents.worker import extraction_limits, with_org_limits
from autan.llm.config import ModelsConfig
from autan.web.errors import fill_in
from autan.web.templating import Templates
from tests.conftest import make_settings, serve_autan
from tests.documents import files, hostile
from tests.documents.test_ingestion import with_documents
from tests.support.database import SqliteDatabases
from tests.support.rag import new_collection, upload, wait_done

ROOT = Path(__file__).parents[2]
# Each file's extraction may add at most this much to the process's resident memory (the
# child starts at ~100 MB with the libraries loaded). Before the limits, the 660-byte PDF
# took +4,580 MB and the lying DOCX +2,049 MB.
MAX_GROWTH_MB = 150
# Address space of each child: a regression fails on MemoryError instead of taking the
# machine's memory.
CHILD_CAP_MB = 2048
MAX_SECONDS = 10.0
EXPECTED = {item.name: item.expected for item in hostile.corpus()}


@pytest.fixture(scope="module")
def outcomes() -> dict[str, hostile.Outcome]:
    """Every file of the corpus extracted once, each in its own forked child."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.documents.hostile", "--json", str(CHILD_CAP_MB)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    # Logs and libraries' prints share stdout with the report lines.
    reports = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"name"')]
    return {report["name"]: hostile.Outcome(**report) for report in reports}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_hostile_file_ends_ready_or_with_its_reason_in_bounded_memory(
    outcomes: dict[str, hostile.Outcome], name: str
) -> None:
    outcome = outcomes[name]
    assert outcome.result == EXPECTED[name], outcome
    growth = outcome.peak_mb - outcome.baseline_mb
    assert growth < MAX_GROWTH_MB, (name, growth)
    assert outcome.seconds < MAX_SECONDS, (name, outcome.seconds)
    # Whatever the trick, /etc/passwd is never read and scripts never become text.
    assert "root:" not in outcome.text
    if name.endswith(".html"):
        assert "alert" not in outcome.text and "document.location" not in outcome.text
    if outcome.result != "ready":
        french = fill_in(Templates(), "fr", outcome.template, outcome.values)
        assert french != outcome.message, (name, "reason not translated", outcome.message)
        for value in outcome.values.values():
            if isinstance(value, int):
                assert format_decimal(value, locale="fr") in french


def test_the_limits_are_named_with_their_values_in_french() -> None:
    templates = Templates()
    for error, expected in [
        (TooMuchText(5_000_000), "plus de 5\u202f000\u202f000 caractères"),
        (TooManyPassages(20_000), "plus de 20\u202f000 passages"),
        (UnpackedTooLarge(100), "plus de 100 Mo"),
        (PageTooLarge(3, 508, 508), "La page 3 mesure 508 × 508 cm"),
    ]:
        french = fill_in(templates, "fr", error.template, error.values)
        assert expected in french, french


def test_settings_reach_the_extraction_limits() -> None:
    settings = DocumentSettings(
        max_characters=1234, max_unpacked_bytes=5678, ocr_max_pixels=2_000_000
    )
    limits = extraction_limits(settings)
    assert (limits.max_characters, limits.max_unpacked_bytes) == (1234, 5678)
    assert limits.ocr_max_pixels == 2_000_000
    assert DocumentSettings().max_characters == 5_000_000
    assert DocumentSettings().max_passages == 20_000


def test_characters_are_counted_while_reading() -> None:
    with pytest.raises(TooMuchText, match="more than 200 characters"):
        extract(files.make_docx(), "guide.docx", ExtractionLimits(max_characters=200))
    with pytest.raises(TooMuchText):
        extract(files.make_xlsx(rows=50), "tableau.xlsx", ExtractionLimits(max_characters=300))
    # Within the budget, the same files are read.
    assert extract(files.make_docx(), "guide.docx").blocks


def test_passages_are_counted_while_chunking() -> None:
    blocks: list[Block] = []
    for n in range(50):
        blocks.append(Block(f"Section {n}", None, (f"Section {n}",), "heading"))
        blocks.append(Block(f"Texte de la section {n}.", None, (f"Section {n}",), "text"))
    document = ExtractedDocument("md", blocks, 1, None, 0)
    assert len(chunk(document, max_passages=50)) == 50
    with pytest.raises(TooManyPassages, match="more than 49 passages"):
        chunk(document, max_passages=49)


def test_real_unpacked_bytes_are_counted_whatever_the_headers_say() -> None:
    # Honest headers, 3 MB of XML: under a 2 MB budget, refused while unpacking.
    honest = hostile.write_zip(
        [
            hostile.deflated("[Content_Types].xml", b"<Types/>"),
            hostile.deflated("word/document.xml", b"<w:document>" + b"a" * 3_000_000),
        ]
    )
    with pytest.raises(UnpackedTooLarge, match="more than 2 MB"):
        check_zip(honest, 2 * 1024 * 1024)
    check_zip(honest, 4 * 1024 * 1024)
    with pytest.raises(Exception, match="zip bomb"):
        check_zip(hostile.docx_size_lie(gigabytes=0.01))


def test_ocr_renders_within_the_pixel_budget() -> None:
    limits = ExtractionLimits()
    for side, rendered in [(595, True), (5000, True), (14400, False)]:
        pdf = pdfium.PdfDocument(hostile.huge_page_pdf(side))
        try:
            page = pdf[0]
            scale = _ocr_scale(page, limits)
            if not rendered:
                assert scale is None
                continue
            assert scale is not None
            assert (side * scale) ** 2 <= limits.ocr_max_pixels * 1.001
            assert scale <= limits.ocr_dpi / 72
            page.close()
        finally:
            pdf.close()


# --- end to end through the worker ----------------------------------------------------


class PeakMemory:
    """Samples this process's resident memory in a thread until stopped."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.start = self.process.memory_info().rss
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / 2**20


async def set_document_limits(database_url: str, limits: dict[str, int]) -> None:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            await session.execute(update(Organisation).values(document_limits=limits))
            await session.commit()
    finally:
        await engine.dispose()


def test_organisation_limits_replace_the_deployment_ones() -> None:
    settings = DocumentSettings()
    assert with_org_limits(settings, None) is settings
    changed = with_org_limits(
        settings,
        {"max_characters": 1000, "max_passages": True, "chunk_tokens": 64, "max_pages": -1},
    )
    assert changed.max_characters == 1000
    assert (changed.max_passages, changed.chunk_tokens, changed.max_pages) == (
        settings.max_passages,
        settings.chunk_tokens,
        settings.max_pages,
    )


def files_named(root: Path, name: str) -> Iterator[Path]:
    return (path for path in root.rglob(name) if path.is_file())


@pytest.mark.slow
async def test_hostile_files_through_the_worker_then_a_normal_file(
    tmp_path: Path, sqlite_databases: SqliteDatabases, embedded_models: ModelsConfig
) -> None:
    database_url = sqlite_databases.new()
    settings = with_documents(make_settings(tmp_path, database_url, embedded_models))
    subset = {
        "page-geante.pdf": hostile.huge_page_pdf(),
        "mensonge.docx": hostile.docx_size_lie(),
        "repetitions.ods": hostile.ods_repeats(),
        "dtd.html": hostile.html_doctype_subset(),
        "xxe.docx": hostile.docx_xxe(),
        "evasion.docx": hostile.traversal_docx(),
    }
    async with serve_autan(settings) as autan, autan.client() as client:
        collection = await new_collection(client)
        exe = await upload(client, collection, "programme.pdf", b"MZ\x90\x00" + bytes(256) * 8)
        assert exe.status_code == 400 and "is a program" in exe.json()["error"]["message"]
        with PeakMemory() as memory:
            sent = {}
            for name, data in subset.items():
                response = await upload(client, collection, name, data)
                assert response.status_code == 201, (name, response.text)
                sent[name] = response.json()["id"]
            normal = await upload(client, collection, "guide.docx", files.make_docx())
            done = {name: await wait_done(client, id_) for name, id_ in sent.items()}
            last = await wait_done(client, normal.json()["id"])
        assert last["status"] == "ready" and last["chunks"] >= 1, last
        assert {name: state["status"] for name, state in done.items()} == {
            name: "ready" if EXPECTED[name] == "ready" else "failed" for name in subset
        }
        assert "more than 5,000,000 characters" in done["repetitions.ods"]["error"]
        assert "Page 1 measures 508 × 508 cm" in done["page-geante.pdf"]["error"]
        assert "zip bomb" in done["mensonge.docx"]["error"]
        # Before the limits, the worker's process grew by 4.6 GB on the PDF alone.
        assert memory.growth_mb < 300, memory.growth_mb

        # An organisation's own limit replaces the deployment's, named in the reason.
        await set_document_limits(database_url, {"max_passages": 1, "unknown": 3})
        long_md = "\n\n".join(f"## Partie {n}\n\nLa demande se fait en mairie." for n in range(3))
        capped = await upload(client, collection, "long.md", long_md.encode())
        failed_long = await wait_done(client, capped.json()["id"])
        assert failed_long["status"] == "failed", failed_long
        assert "more than 1 passages to index" in failed_long["error"]
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            failed = await session.get(Document, uuid.UUID(done["repetitions.ods"]["id"]))
            assert failed is not None and failed.error_values == {"limit": 5_000_000}
            french = fill_in(Templates(), "fr", failed.error_template or "", failed.error_values)
            assert "plus de 5\u202f000\u202f000 caractères" in french
            texts = list(await session.scalars(select(Chunk.content)))
    finally:
        await engine.dispose()
    assert texts and not any("root:" in text for text in texts)
    # Nothing was unpacked anywhere: the traversal member exists nowhere on disk.
    assert not Path("/tmp", hostile.TRAVERSAL_NAME).exists()
    assert not list(files_named(tmp_path.parent, hostile.TRAVERSAL_NAME))
