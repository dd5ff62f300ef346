"""Optical character recognition with Debian's Tesseract, one page image at a time."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import structlog
from PIL import Image, ImageOps

from autan.documents.extraction.errors import OcrUnavailable
from autan.documents.extraction.model import ExtractionLimits
from autan.documents.extraction.normalise import join_hyphenated, normalise, paragraphs

log = structlog.get_logger(__name__)

# Past this many pixels on the long side Tesseract gets slower, not better (a 300 dpi A3
# page is ~5000 px); below the lower bound small photos are enlarged, as Tesseract reads
# letters best when they are 20-40 px tall.
MAX_SIDE = 5000
# Pages per Tesseract process: the models load once per batch, and a batch's rendered
# pages (~4 MB each at 200 dpi in grey) are held in memory meanwhile.
OCR_BATCH = 8
MIN_SIDE = 1200
# One OCR process at a time is enough per page: extraction already runs in a worker
# thread, and OpenMP threads fighting over two cores made Tesseract slower.
_ENV = {**os.environ, "OMP_THREAD_LIMIT": "1"}


def tesseract() -> str | None:
    """Path of the tesseract program, or None when it is not installed."""
    return shutil.which("tesseract")


def prepare(image: Image.Image) -> tuple[Image.Image, float]:
    """Grayscale, upright (EXIF orientation), neither huge nor tiny: what Tesseract reads best.

    Returns the image and the factor it was resized by.
    """
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "P", "PA"):
        # Transparent areas would turn black: lay the image on white first.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, "white")
        image = Image.alpha_composite(background, rgba)
    image = image.convert("L")
    side = max(image.size)
    if side > MAX_SIDE:
        scale = MAX_SIDE / side
    elif 0 < side < MIN_SIDE:
        scale = min(MIN_SIDE / side, 3.0)
    else:
        return image, 1.0
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS), scale


def to_png(image: Image.Image, dpi: int | None) -> bytes:
    """The image as Tesseract gets it (see prepare); the resolution travels in the PNG.

    Pages wait for their OCR batch in this form: a few hundred KB instead of megabytes.
    """
    prepared, scale = prepare(image)
    buffer = io.BytesIO()
    options: dict[str, object] = {"compress_level": 1}
    if dpi:
        options["dpi"] = (round(dpi * scale), round(dpi * scale))
    prepared.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def _run(command: list[str], stdin: bytes | None, timeout: float) -> str | None:
    """Tesseract's output, or None when it timed out or failed on the input."""
    try:
        result = subprocess.run(
            command, input=stdin, capture_output=True, timeout=timeout, env=_ENV, check=False
        )
    except subprocess.TimeoutExpired:
        log.warning("ocr_timeout", seconds=timeout)
        return None
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip()
        if "Failed loading language" in message or "Could not initialize" in message:
            log.error("ocr_languages_missing", error=message[-500:])
            raise OcrUnavailable()
        log.warning("ocr_failed", error=message[-500:])
        return None
    return result.stdout.decode("utf-8", "replace")


def _text(raw: str) -> list[str]:
    return paragraphs(normalise(join_hyphenated(raw)))


def ocr_pages(pngs: Sequence[bytes], limits: ExtractionLimits) -> list[list[str]]:
    """The paragraphs Tesseract reads in each page image (from to_png), in order.

    Several images go to one Tesseract process (a list file), which loads its language
    models once instead of once per page: that load is most of the time of a short page.
    A page that times out or fails gives no text; it never fails the whole document.
    """
    program = tesseract()
    if program is None:
        raise OcrUnavailable()
    options = ["-l", limits.ocr_languages, "--psm", "3"]
    if len(pngs) == 1:
        raw = _run([program, "stdin", "stdout", *options], pngs[0], limits.ocr_timeout)
        return [_text(raw or "")]
    with tempfile.TemporaryDirectory(prefix="autan-ocr-") as folder:
        paths = []
        for index, png in enumerate(pngs):
            path = Path(folder, f"page-{index:04d}.png")
            path.write_bytes(png)
            paths.append(str(path))
        listing = Path(folder, "pages.txt")
        listing.write_text("\n".join(paths) + "\n", encoding="utf-8")
        command = [program, str(listing), "stdout", *options]
        raw = _run(command, None, limits.ocr_timeout * len(pngs))
    # Tesseract separates pages with a form feed.
    pages = raw.split("\f") if raw is not None else []
    if len(pages) != len(pngs):
        # Timed out or failed as a batch: page by page, each with its own time limit.
        return [ocr_pages([png], limits)[0] for png in pngs]
    return [_text(page) for page in pages]
