"""One entry point: detect the format, run its extractor, refuse documents without text."""

from __future__ import annotations

from collections.abc import Callable

import structlog

from autan.documents.extraction.errors import BrokenFile, EmptyDocument
from autan.documents.extraction.html import extract_html
from autan.documents.extraction.images import extract_image
from autan.documents.extraction.model import ExtractedDocument, ExtractionLimits, text_budget
from autan.documents.extraction.normalise import is_blank
from autan.documents.extraction.office import extract_docx, extract_pptx, extract_xlsx
from autan.documents.extraction.opendocument import extract_odp, extract_ods, extract_odt
from autan.documents.extraction.pdf import extract_pdf
from autan.documents.extraction.sniff import detect_format
from autan.documents.extraction.text import extract_csv, extract_markdown, extract_txt

log = structlog.get_logger(__name__)

Progress = Callable[[int, int], None] | None
Extractor = Callable[[bytes, ExtractionLimits, Progress], ExtractedDocument]

_PAGED: dict[str, Extractor] = {
    "pdf": extract_pdf,
    "docx": extract_docx,
    "pptx": extract_pptx,
    "xlsx": extract_xlsx,
    "odt": extract_odt,
    "ods": extract_ods,
    "odp": extract_odp,
}
_FLAT: dict[str, Callable[[bytes], ExtractedDocument]] = {
    "txt": extract_txt,
    "md": extract_markdown,
    "csv": extract_csv,
    "html": extract_html,
}
IMAGE_FORMATS = ("png", "jpeg", "tiff")


def _run(fmt: str, data: bytes, limits: ExtractionLimits, progress: Progress) -> ExtractedDocument:
    if fmt in _PAGED:
        return _PAGED[fmt](data, limits, progress)
    if fmt in IMAGE_FORMATS:
        return extract_image(data, fmt, limits, progress)
    document = _FLAT[fmt](data)
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
