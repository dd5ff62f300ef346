"""One entry point: detect the format, run its extractor, refuse documents without text."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable

import structlog

from autan.documents.extraction.errors import BrokenFile, EmptyDocument
from autan.documents.extraction.model import ExtractedDocument, ExtractionLimits, text_budget
from autan.documents.extraction.normalise import is_blank
from autan.documents.extraction.sniff import detect_format

log = structlog.get_logger(__name__)

Progress = Callable[[int, int], None] | None

# Format -> (module of this package, function). The readers import large libraries
# (python-pptx, openpyxl, odfpy, pypdfium2, Pillow, lxml, markdown-it) that only a process
# extracting such a file needs: every `autan` command and web process would otherwise load
# them all at start, which was about a third of the command line's start-up time.
_PAGED = {
    "pdf": ("pdf", "extract_pdf"),
    "docx": ("office", "extract_docx"),
    "pptx": ("office", "extract_pptx"),
    "xlsx": ("office", "extract_xlsx"),
    "odt": ("opendocument", "extract_odt"),
    "ods": ("opendocument", "extract_ods"),
    "odp": ("opendocument", "extract_odp"),
}
_FLAT = {
    "txt": ("text", "extract_txt"),
    "md": ("text", "extract_markdown"),
    "csv": ("text", "extract_csv"),
    "html": ("html", "extract_html"),
}
IMAGE_FORMATS = ("png", "jpeg", "tiff")


@functools.cache
def _reader(module: str, name: str) -> Callable[..., ExtractedDocument]:
    function: Callable[..., ExtractedDocument] = getattr(
        importlib.import_module(f"autan.documents.extraction.{module}"), name
    )
    return function


def _run(fmt: str, data: bytes, limits: ExtractionLimits, progress: Progress) -> ExtractedDocument:
    if fmt in _PAGED:
        return _reader(*_PAGED[fmt])(data, limits, progress)
    if fmt in IMAGE_FORMATS:
        return _reader("images", "extract_image")(data, fmt, limits, progress)
    document = _reader(*_FLAT[fmt])(data)
    if progress is not None:
        progress(1, 1)
    return document


def extract(
    data: bytes,
    filename: str,
    limits: ExtractionLimits = ExtractionLimits(),  # noqa: B008 - frozen, safe to share
    progress: Callable[[int, int], None] | None = None,
) -> ExtractedDocument:
    """Text and structure of a file, whatever its format (detected from the content).

    Synchronous and CPU-bound: call it from a worker thread. `progress(done, total)` is
    called after each page, slide or sheet. Raises an ExtractionError subclass, whose
    message can be shown to the person who sent the file.
    """
    fmt = detect_format(data, filename)
    try:
        with text_budget(limits.max_characters):
            document = _run(fmt, data, limits, progress)
    except RecursionError as exc:
        # Absurdly deep nesting (crafted HTML or XML) is not a real document.
        raise BrokenFile() from exc
    if all(is_blank(block.text) for block in document.blocks):
        raise EmptyDocument()
    log.debug(
        "document_extracted",
        format=fmt,
        pages=document.pages,
        blocks=len(document.blocks),
        ocr_pages=document.ocr_pages,
    )
    return document
