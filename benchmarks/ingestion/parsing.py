"""Parsing benchmark: text extraction, OCR and chunking throughput on real French text.

Inputs are generated from the service-public.fr fiches of ``/work/shared/data`` (see its
README), so the text, accents and paragraph lengths are those of real public-sector pages:

* a text PDF of 200+ pages written with fpdf2 (DejaVu, A4, one bookmark per fiche);
* a Word document of the same fiches (python-docx, "Heading 1" per fiche);
* 5 scanned pages: A4 at 200 dpi, fiche text drawn with Pillow, saved as an image-only
  PDF, read by Tesseract (fra+eng); OCR quality is the share of the source's words
  found in the OCR output;
* chunking (300 tokens, 40 overlap) of the extracted PDF.

Each measure is the median of ``--repeat`` runs; wall and CPU time are both reported
(CPU includes Tesseract's processes; wall also includes waiting for the cores, which other
jobs share on the benchmark machine: the load average is recorded).

    .venv/bin/python -m benchmarks.ingestion.parsing [--pages 220] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import io
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docx
from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont

from autan.documents.chunking import chunk, count_tokens
from autan.documents.extraction import ExtractedDocument, ExtractionLimits, extract
from autan.documents.extraction.ocr import ocr_pages, to_png

ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = ROOT / "benchmarks" / "results"
FICHES = Path("/work/shared/data/service-public/fiches.jsonl")
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
SCAN_DPI = 200
A4_PX = (round(8.27 * SCAN_DPI), round(11.69 * SCAN_DPI))
WORD = re.compile(r"\w+")


def load_fiches() -> list[list[str]]:
    """Paragraphs of every fiche, in file order."""
    with FICHES.open(encoding="utf-8") as lines:
        texts = [json.loads(line)["text"] for line in lines]
    return [[p.strip() for p in text.split("\n") if p.strip()] for text in texts]


def text_pdf(fiches: list[list[str]], pages: int, *, bookmarks: bool = True) -> tuple[bytes, int]:
    """A PDF of at least `pages` pages, one (bookmarked) section per fiche; its page count."""
    pdf = FPDF(format="A4")
    pdf.add_font("DejaVu", "", FONT)
    pdf.add_font("DejaVu", "B", FONT_BOLD)
    pdf.set_title("Fiches pratiques service-public.fr")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    for number, paragraphs in enumerate(fiches, start=1):
        if pdf.page_no() >= pages and pdf.get_y() > 40:
            break
        if bookmarks:
            pdf.start_section(f"Fiche {number}", level=0)
        pdf.set_font("DejaVu", "B", 14)
        pdf.multi_cell(0, 8, f"Fiche {number}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 10)
        for paragraph in paragraphs:
            pdf.multi_cell(0, 5, paragraph, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
    return bytes(pdf.output()), pdf.page_no()


def word_document(fiches: list[list[str]], paragraphs: int) -> bytes:
    """A .docx holding the first `paragraphs` paragraphs of the fiches, a heading per fiche."""
    document = docx.Document()
    written = 0
    for number, fiche in enumerate(fiches, start=1):
        if written >= paragraphs:
            break
        document.add_heading(f"Fiche {number}", level=1)
        for paragraph in fiche:
            document.add_paragraph(paragraph)
            written += 1
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def scanned_pages(fiches: list[list[str]], count: int) -> tuple[list[Image.Image], list[str]]:
    """`count` A4 pages at 200 dpi of fiche text drawn in black on white, and their text."""
    font = ImageFont.truetype(FONT, 30)  # ~11 pt at 200 dpi
    words = [word for fiche in fiches for paragraph in fiche for word in paragraph.split()]
    width, height = A4_PX
    margin, line_height = 150, 46
    images, texts = [], []
    cursor = 0
    for _ in range(count):
        image = Image.new("L", A4_PX, 255)
        draw = ImageDraw.Draw(image)
        lines: list[str] = []
        y = margin
        while y < height - margin:
            line: list[str] = []
            while cursor < len(words):
                candidate = " ".join([*line, words[cursor]])
                if draw.textlength(candidate, font=font) > width - 2 * margin:
                    break
                line.append(words[cursor])
                cursor += 1
            draw.text((margin, y), " ".join(line), font=font, fill=0)
            lines.append(" ".join(line))
            y += line_height
        images.append(image)
        texts.append("\n".join(lines))
    return images, texts


def image_pdf(images: list[Image.Image]) -> bytes:
    buffer = io.BytesIO()
    rgb = [image.convert("RGB") for image in images]
    rgb[0].save(buffer, "PDF", resolution=float(SCAN_DPI), save_all=True, append_images=rgb[1:])
    return buffer.getvalue()


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (Tesseract)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed(function: Callable[[], Any], repeat: int) -> tuple[Any, float, float]:
    """The last result, and median wall and CPU seconds over `repeat` runs."""
    walls, cpus = [], []
    result = None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), _cpu()
        result = function()
        walls.append(time.perf_counter() - wall)
        cpus.append(_cpu() - cpu)
    return result, statistics.median(walls), statistics.median(cpus)


def word_recall(source: str, found: str) -> float:
    """Share of the source's words (case-sensitive, accents included) found in the OCR text."""
    expected = WORD.findall(source)
    seen = set(WORD.findall(found))
    return sum(word in seen for word in expected) / max(len(expected), 1)


def _row(name: str, units: float, unit: str, wall: float, cpu: float, note: str) -> dict[str, Any]:
    return {
        "measure": name,
        "units": units,
        "unit": unit,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "per_s_wall": round(units / wall, 3) if wall else None,
        "per_s_cpu": round(units / cpu, 3) if cpu else None,
        "note": note,
    }


def run(pages: int, repeat: int, scans: int) -> dict[str, Any]:
    fiches = load_fiches()
    rows: list[dict[str, Any]] = []

    pdf, pdf_pages = text_pdf(fiches, pages)
    document, wall, cpu = timed(lambda: extract(pdf, "fiches.pdf"), repeat)
    assert isinstance(document, ExtractedDocument) and document.ocr_pages == 0
    characters = sum(len(block.text) for block in document.blocks)
    headings = sum(block.kind == "heading" for block in document.blocks)
    rows.append(
        _row(
            "PDF text extraction",
            pdf_pages,
            "pages",
            wall,
            cpu,
            f"{len(pdf) / 1e6:.1f} MB, {characters / 1e6:.2f} M characters, "
            f"{headings} bookmarked headings",
        )
    )

    plain, plain_pages = text_pdf(fiches, pages, bookmarks=False)
    typed, wall, cpu = timed(lambda: extract(plain, "fiches.pdf"), repeat)
    found = sum(block.kind == "heading" for block in typed.blocks)
    rows.append(
        _row(
            "PDF text extraction, no bookmarks",
            plain_pages,
            "pages",
            wall,
            cpu,
            f"{found} headings found from type (the bookmarked file has {headings})",
        )
    )

    paragraphs = sum(1 for block in document.blocks if block.kind == "text")
    word = word_document(fiches, paragraphs)
    extracted, wall, cpu = timed(lambda: extract(word, "fiches.docx"), repeat)
    rows.append(
        _row(
            "Word (.docx) extraction",
            len(extracted.blocks),
            "blocks",
            wall,
            cpu,
            f"same text as the PDF ({len(word) / 1e6:.1f} MB); ~{pdf_pages} pages printed",
        )
    )

    drafts, wall, cpu = timed(lambda: chunk(document), repeat)
    tokens = sum(draft.tokens for draft in drafts)
    rows.append(
        _row(
            "Chunking (300 tokens, 40 overlap)",
            pdf_pages,
            "pages",
            wall,
            cpu,
            f"{len(drafts)} chunks, {tokens} estimated tokens, {len(drafts) / wall:,.0f} chunks/s",
        )
    )
    texts = [block.text for block in document.blocks]
    _, wall, cpu = timed(lambda: [count_tokens(text) for text in texts], repeat)
    rows.append(
        _row(
            "Token estimate",
            characters / 1e6,
            "M characters",
            wall,
            cpu,
            f"{tokens / wall / 1e6:.1f} M tokens/s",
        )
    )

    images, sources = scanned_pages(fiches, scans)
    scan_pdf = image_pdf(images)
    scanned, wall, cpu = timed(lambda: extract(scan_pdf, "scan.pdf"), 1)
    recall = word_recall("\n".join(sources), " ".join(b.text for b in scanned.blocks))
    rows.append(
        _row(
            "OCR of scanned PDF pages (batched)",
            scanned.ocr_pages,
            "pages",
            wall,
            cpu,
            f"A4 at {SCAN_DPI} dpi, Tesseract fra+eng, {recall:.1%} of the words found",
        )
    )
    limits = ExtractionLimits()
    pngs = [to_png(image, SCAN_DPI) for image in images]
    _, wall, cpu = timed(lambda: [ocr_pages([png], limits) for png in pngs], 1)
    rows.append(
        _row(
            "OCR one Tesseract process per page",
            len(pngs),
            "pages",
            wall,
            cpu,
            "for comparison: the models are loaded for every page",
        )
    )
    return {
        "meta": {
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{os.cpu_count()} cores, {platform.platform()}",
            "python": platform.python_version(),
            "load_average_after": [round(v, 2) for v in os.getloadavg()],
            "repeat": repeat,
            "versions": {
                name: importlib.metadata.version(name)
                for name in ("pypdfium2", "python-docx", "fpdf2", "pillow")
            },
            "tesseract": _tesseract_version(),
        },
        "rows": rows,
    }


def _tesseract_version() -> str:
    result = subprocess.run(["tesseract", "--version"], capture_output=True, check=False)
    return (result.stdout or result.stderr).decode().splitlines()[0]


def _rate(units: float, seconds: float) -> str:
    if not seconds:
        return "-"
    rate = units / seconds
    return f"{rate:,.2f}" if rate < 10 else f"{rate:,.0f}"


def _findings(rows: dict[str, dict[str, Any]]) -> list[str]:
    pdf = rows["PDF text extraction"]
    ocr = rows["OCR of scanned PDF pages (batched)"]
    single = rows["OCR one Tesseract process per page"]
    chunking = rows["Chunking (300 tokens, 40 overlap)"]
    return [
        "## Reading",
        "",
        f"- Text PDFs: {_rate(pdf['units'], pdf['wall_s'])} pages/s wall on a loaded machine, "
        f"{_rate(pdf['units'], pdf['cpu_s'])} pages/s of CPU (target: 20 pages/s). A "
        "2,000-page PDF (the default page limit) parses in well under a minute.",
        f"- OCR costs {ocr['cpu_s'] / ocr['units']:.1f} s of CPU per dense A4 page at "
        f"{SCAN_DPI} dpi (Tesseract, one thread): a 100-page scan takes minutes, which is why "
        "parsing runs in the ingestion worker with progress reports. One Tesseract process "
        f"per batch of pages ({ocr['cpu_s']:.1f} s CPU) against one per page "
        f"({single['cpu_s']:.1f} s): loading the models is small next to recognising a full "
        "page. Batching saves that load (about half a second per page in a quick check on "
        "one-line pages), which only matters for short pages (letters, forms).",
        f"- Chunking: {_rate(chunking['units'], chunking['cpu_s'])} pages/s of CPU, "
        "negligible next to parsing and embedding.",
    ]


def render_markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    out = [
        "# Parsing benchmark",
        "",
        f"Run {meta['date']} by `benchmarks/ingestion/parsing.py` "
        f"(`.venv/bin/python -m benchmarks.ingestion.parsing`).",
        "",
        f"- Machine: {meta['machine']}; Python {meta['python']}; {meta['tesseract']}; "
        + ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
        + ".",
        f"- Load average after the run: {meta['load_average_after']} (other jobs share "
        "the 2 cores; CPU time is the steadier figure).",
        f"- Median of {meta['repeat']} runs (OCR: one run). Input: service-public.fr fiches "
        "from `/work/shared/data`.",
        "",
        "| Measure | Amount | Wall s | CPU s | Per second (wall) | Per second (CPU) | Notes |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in results["rows"]:
        amount = f"{row['units']:,.2f}" if row["units"] < 10 else f"{row['units']:,.0f}"
        out.append(
            f"| {row['measure']} | {amount} {row['unit']} | {row['wall_s']:.3f} | "
            f"{row['cpu_s']:.3f} | {_rate(row['units'], row['wall_s'])} | "
            f"{_rate(row['units'], row['cpu_s'])} | {row['note']} |"
        )
    out += ["", *_findings({row["measure"]: row for row in results["rows"]})]
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=220, help="pages of the text PDF")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measure (median)")
    parser.add_argument("--scans", type=int, default=5, help="scanned pages to OCR")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    results = run(args.pages, args.repeat, args.scans)
    markdown = render_markdown(results)
    print(markdown)
    if not args.no_write:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        (RESULTS_DIR / "parsing.md").write_text(markdown, encoding="utf-8")
        (RESULTS_DIR / "parsing.json").write_text(
            json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )


if __name__ == "__main__":
    main()
