"""Optical character recognition with Debian's Tesseract, one page image at a time."""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess

from PIL import Image, ImageOps

from autan.documents.extraction.errors import OcrUnavailable
from autan.documents.extraction.model import ExtractionLimits
from autan.documents.extraction.normalise import join_hyphenated, normalise, paragraphs

logger = logging.getLogger(__name__)

# Past this many pixels on the long side Tesseract gets slower, not better (a 300 dpi A3
# page is ~5000 px); below the lower bound small photos are enlarged, as Tesseract reads
# letters best when they are 20-40 px tall.
MAX_SIDE = 5000
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


def ocr_image(image: Image.Image, limits: ExtractionLimits, dpi: int | None = None) -> str:
    """The normalised text Tesseract reads in `image` ('' if it finds none or times out)."""
    program = tesseract()
    if program is None:
        raise OcrUnavailable()
    prepared, scale = prepare(image)
    buffer = io.BytesIO()
    prepared.save(buffer, format="PNG", compress_level=1)
    command = [program, "stdin", "stdout", "-l", limits.ocr_languages, "--psm", "3"]
    if dpi:
        command += ["--dpi", str(round(dpi * scale))]
    try:
        result = subprocess.run(
            command,
            input=buffer.getvalue(),
            capture_output=True,
            timeout=limits.ocr_timeout,
            env=_ENV,
            check=False,
        )
    except subprocess.TimeoutExpired:
        logger.warning("OCR of one page gave up after %.0f s", limits.ocr_timeout)
        return ""
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip()
        if "Failed loading language" in message or "Could not initialize" in message:
            logger.error("Tesseract cannot load languages %s: %s", limits.ocr_languages, message)
            raise OcrUnavailable()
        logger.warning("Tesseract failed on one page: %s", message[-500:])
        return ""
    return normalise(join_hyphenated(result.stdout.decode("utf-8", "replace")))


def ocr_paragraphs(
    image: Image.Image, limits: ExtractionLimits, dpi: int | None = None
) -> list[str]:
    """The paragraphs Tesseract finds in `image` (it separates them by blank lines)."""
    return paragraphs(ocr_image(image, limits, dpi))
