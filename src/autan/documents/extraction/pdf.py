"""PDF: the text layer of each page (pypdfium2), OCR for scanned pages.

Pages are read here; pdf_layout turns their lines into paragraphs and headings.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from collections.abc import Callable

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import structlog

from autan.documents.extraction.errors import (
    BrokenFile,
    EmptyDocument,
    EncryptedFile,
    PageTooLarge,
    TooManyPages,
)
from autan.documents.extraction.model import ExtractedDocument, ExtractionLimits
from autan.documents.extraction.normalise import (
    inline,
    is_blank,
    join_hyphenated,
    metadata_title,
    normalise,
)
from autan.documents.extraction.ocr import OCR_BATCH, ocr_pages, to_png
from autan.documents.extraction.pdf_layout import Bookmarks, Line, document_blocks

log = structlog.get_logger(__name__)
_CM_PER_POINT = 2.54 / 72

# PDFium is not thread-safe and extraction runs in worker threads: every call into it
# holds this lock. OCR (a subprocess) runs outside it.
PDFIUM_LOCK = threading.Lock()
# A page with fewer letters and digits than this in its text layer, and an image on it,
# is a scan (a page number or a stamp alone does not make a text layer).
OCR_MIN_CHARS = 20
# Fewer letters than this on a page that one image mostly covers (SCAN_COVERAGE) is a scan
# with a few words of text layer on top (a stamp, a page number).
SCAN_MAX_CHARS = 200
SCAN_COVERAGE = 0.5
MAX_BOOKMARK_DEPTH = 6
BOLD_WEIGHT = 600
Progress = Callable[[int, int], None] | None


def _open(data: bytes) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if exc.err_code == pdfium_c.FPDF_ERR_PASSWORD:
            raise EncryptedFile() from exc
        raise BrokenFile() from exc


def _bookmarks(pdf: pdfium.PdfDocument) -> Bookmarks:
    """Outline entries by 0-based page index, in outline order, with their level (1 = top)."""
    marks: Bookmarks = defaultdict(list)
    for bookmark in pdf.get_toc(max_depth=MAX_BOOKMARK_DEPTH):
        dest = bookmark.get_dest()
        index = dest.get_index() if dest is not None else None
        title = inline(bookmark.get_title())
        if index is not None and title:
            marks[index].append((bookmark.level + 1, title))
    return marks


def _page_lines(textpage: pdfium.PdfTextPage, text: str) -> list[Line]:
    """The page's lines, each with the height and weight of its type at both ends.

    Type is read at a line's first and last character only: enough to tell headings
    from body text (a bold word opening a paragraph is not a bold line), and cheap.
    """
    count = textpage.count_chars()
    aligned = count == len(text)  # else character indices do not match the text
    lines: list[Line] = []
    offset = 0
    for raw in text.split("\n"):
        clean = normalise(join_hyphenated(raw))
        size, bold = 0.0, False
        stripped = raw.rstrip()
        if aligned and clean and stripped:
            first = offset + len(raw) - len(raw.lstrip())
            last = offset + len(stripped) - 1
            size = min(_height(textpage, first), _height(textpage, last))
            bold = all(
                pdfium_c.FPDFText_GetFontWeight(textpage, index) >= BOLD_WEIGHT
                for index in (first, last)
            )
        lines.append(Line(clean, size, bold))
        offset += len(raw) + 1
    return lines


def _height(textpage: pdfium.PdfTextPage, index: int) -> float:
    """The height of the font's box at one character: its size, whatever the text matrix."""
    _, bottom, _, top = textpage.get_charbox(index, loose=True)
    return round(float(top - bottom), 1)


def _unreadable(text: str) -> bool:
    """A text layer of mostly private-use or replacement characters (fonts without a
    Unicode map): the page shows text that copying would not give back."""
    visible = [char for char in text if not char.isspace()]
    bad = sum(1 for char in visible if char == "\ufffd" or "\ue000" <= char <= "\uf8ff")
    return len(visible) >= OCR_MIN_CHARS and bad > len(visible) * 0.3


def _image_coverage(page: pdfium.PdfPage) -> float:
    """The share of the page covered by its largest image."""
    width, height = page.get_size()
    largest = 0.0
    for image in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=4):
        left, bottom, right, top = image.get_bounds()
        largest = max(largest, (right - left) * (top - bottom))
    return largest / (width * height) if width and height else 0.0


def _needs_ocr(page: pdfium.PdfPage, text: str) -> bool:
    """A scan: (almost) no usable text layer, and an image where the text should be.

    A scanned page with a few words of text layer (a stamp, a page number added by
    software) is still a scan when one image covers most of it.
    """
    letters = sum(char.isalnum() for char in text)
    if letters >= SCAN_MAX_CHARS and not _unreadable(text):
        return False
    coverage = _image_coverage(page)
    if letters < OCR_MIN_CHARS or _unreadable(text):
        return coverage > 0
    return coverage >= SCAN_COVERAGE


def _ocr_scale(page: pdfium.PdfPage, limits: ExtractionLimits) -> float | None:
    """The render scale for OCR: `ocr_dpi`, lowered so that the bitmap stays within
    `ocr_max_pixels`; None for a page too large to be a scan (not rendered at all).

    A fixed DPI made a 14,400 pt square page (PDF's largest) a 1.6-gigapixel bitmap.
    """
    width, height = page.get_size()
    area = max(width, 1.0) * max(height, 1.0)
    if area > limits.ocr_max_page_area:
        return None
    return min(limits.ocr_dpi / 72, math.sqrt(limits.ocr_max_pixels / area))


def _read_page(
    pdf: pdfium.PdfDocument, index: int, limits: ExtractionLimits
) -> tuple[list[Line], bytes | None, tuple[float, float] | None]:
    """The page's lines, or its rendering (PNG) when it must go through OCR instead.

    The third value is the page's size in points when it needed OCR but was too large.
    """
    with PDFIUM_LOCK:
        page = pdf[index]
        try:
            textpage = page.get_textpage()
            try:
                text = textpage.get_text_range()
                if not limits.ocr or not _needs_ocr(page, text):
                    return _page_lines(textpage, text), None, None
                scale = _ocr_scale(page, limits)
                if scale is None:
                    log.warning("ocr_page_too_large", page=index + 1, size=page.get_size())
                    return _page_lines(textpage, text), None, page.get_size()
            finally:
                textpage.close()
            image = page.render(scale=scale, grayscale=True).to_pil()
        finally:
            page.close()
    return [], to_png(image, round(scale * 72)), None


class _Pages:
    """The lines of every page, scanned pages going through OCR in batches."""

    def __init__(self, total: int, limits: ExtractionLimits, progress: Progress) -> None:
        self.total = total
        self.limits = limits
        self.progress = progress
        self.lines: list[list[Line]] = [[] for _ in range(total)]
        self.scans: list[tuple[int, bytes]] = []
        self.ocr_pages = 0
        self.done = 0  # pages read (and OCRed) in order, for progress
        # The first scanned page too large to render: (0-based index, (width, height) in pt).
        self.oversized: tuple[int, tuple[float, float]] | None = None

    def read(self, pdf: pdfium.PdfDocument, index: int) -> None:
        lines, png, oversized = _read_page(pdf, index, self.limits)
        if oversized is not None and self.oversized is None:
            self.oversized = (index, oversized)
        if png is None:
            self.lines[index] = lines
        else:
            self.ocr_pages += 1
            self.scans.append((index, png))
        if len(self.scans) >= OCR_BATCH or (not self.scans and png is None):
            self.flush(index)

    def flush(self, upto: int) -> None:
        """OCR the waiting scans; report progress up to page `upto` (0-based)."""
        if self.scans:
            texts = ocr_pages([png for _, png in self.scans], self.limits)
            for (index, _), paragraphs in zip(self.scans, texts, strict=True):
                # Tesseract's paragraphs are lines with a blank line between them.
                text = "\n\n".join(paragraphs)
                self.lines[index] = [Line(line) for line in text.split("\n")]
            self.scans = []
        if self.progress is not None:
            while self.done <= upto:
                self.done += 1
                self.progress(self.done, self.total)


def extract_pdf(
    data: bytes,
    limits: ExtractionLimits,
    progress: Progress = None,
) -> ExtractedDocument:
    """Text of a PDF page by page; scanned pages through OCR when `limits.ocr` allows."""
    with PDFIUM_LOCK:
        pdf = _open(data)
    try:
        with PDFIUM_LOCK:
            total = len(pdf)
            if total > limits.max_pages:
                raise TooManyPages(total, limits.max_pages)
            title = metadata_title(pdf.get_metadata_value("Title"))
            marks = _bookmarks(pdf)
        pages = _Pages(total, limits, progress)
        for index in range(total):
            pages.read(pdf, index)
        pages.flush(total - 1)
    except pdfium.PdfiumError as exc:
        raise BrokenFile() from exc
    finally:
        with PDFIUM_LOCK:
            pdf.close()
    blocks = document_blocks(pages.lines, marks)
    if pages.oversized is not None and all(is_blank(block.text) for block in blocks):
        index, (width, height) = pages.oversized
        raise PageTooLarge(index + 1, round(width * _CM_PER_POINT), round(height * _CM_PER_POINT))
    if not limits.ocr and all(is_blank(block.text) for block in blocks):
        raise EmptyDocument(
            "No text could be found in the document: if it is a scan, text recognition "
            "(OCR) is turned off."
        )
    if title is None and not marks:
        # No metadata: a title set in the largest type on the first page.
        title = next((b.text for b in blocks if b.kind == "heading" and b.page == 1), None)
    return ExtractedDocument("pdf", blocks, total, title, pages.ocr_pages)
