"""PDF: the text layer of each page (pypdfium2), OCR for scanned pages, bookmarks as headings."""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from collections.abc import Callable

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from autan.documents.extraction.errors import (
    BrokenFile,
    EmptyDocument,
    EncryptedFile,
    TooManyPages,
)
from autan.documents.extraction.model import (
    Block,
    ExtractedDocument,
    ExtractionLimits,
    HeadingPath,
)
from autan.documents.extraction.normalise import inline, is_blank, join_hyphenated, normalise
from autan.documents.extraction.ocr import OCR_BATCH, ocr_pages, to_png

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
_SENTENCE_END = re.compile(r"[.!?:;»\"”)]$")
_STARTS_PARAGRAPH = re.compile(r"^(?:[A-ZÀ-ÖØ-ÞŒ0-9«\"“]|[-–—•▪◦●*·] |\(?[a-z0-9]{1,3}[.)] )")
_BULLET = re.compile(r"^(?:[-–—•▪◦●*·]|\(?[a-z0-9]{1,3}[.)])\s")
_KEY = re.compile(r"[\W_]+")

Bookmarks = dict[int, list[tuple[int, str]]]
Progress = Callable[[int, int], None] | None


def _key(text: str) -> str:
    return _KEY.sub("", text.casefold())


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


def _lines(text: str) -> list[str]:
    return [line.strip() for line in normalise(join_hyphenated(text)).split("\n")]


def _is_break(line: str, following: str) -> bool:
    """Whether a paragraph ends between two lines of a page's text layer."""
    if not line or not following:
        return True
    if _BULLET.match(following):
        return True
    return bool(_SENTENCE_END.search(line) and _STARTS_PARAGRAPH.match(following))


def _find(lines: list[str], start: int, title: str) -> tuple[int, int] | None:
    """Lines [first, end) holding a bookmark's title at or after `start`, if it is there."""
    key = _key(title)
    if not key:
        return None
    for first in range(start, len(lines)):
        line_key = _key(lines[first])
        if not line_key:
            continue
        if line_key == key:
            return first, first + 1
        if len(line_key) >= 6 and key.startswith(line_key):
            # A long title wrapped over several lines.
            seen, end = line_key, first + 1
            while end < len(lines) and key.startswith(seen + _key(lines[end])) and seen != key:
                seen += _key(lines[end])
                end += 1
            if seen == key:
                return first, end
    return None


def page_blocks(
    lines: list[str], page: int, marks: list[tuple[int, str]], path: HeadingPath
) -> list[Block]:
    """Blocks of one page: paragraphs rebuilt from lines, headings where bookmarks point."""
    # Which bookmarks open before which line, and which lines are the headings' own text.
    opens: dict[int, list[tuple[int, str]]] = defaultdict(list)
    heading_lines: set[int] = set()
    cursor = 0
    for level, title in marks:
        found = _find(lines, cursor, title)
        if found is None:
            opens[cursor].append((level, title))  # not in the text: it starts at this point
            continue
        opens[found[0]].append((level, title))
        heading_lines.update(range(*found))
        cursor = found[1]
    blocks: list[Block] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            blocks.append(Block(" ".join(paragraph), page, path.current, "text"))
            paragraph.clear()

    for index, line in enumerate(lines):
        if index in opens:
            flush()
            for level, title in opens[index]:
                blocks.append(Block(title, page, path.enter(level, title), "heading"))
        if index in heading_lines:
            continue
        if line:
            paragraph.append(line)
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if _is_break(line, following):
            flush()
    flush()
    for level, title in opens.get(len(lines), []):
        blocks.append(Block(title, page, path.enter(level, title), "heading"))
    return blocks


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


def _read_page(
    pdf: pdfium.PdfDocument, index: int, limits: ExtractionLimits
) -> tuple[str, bytes | None]:
    """The page's text layer, and its rendering (PNG) when it must go through OCR instead."""
    with PDFIUM_LOCK:
        page = pdf[index]
        try:
            textpage = page.get_textpage()
            try:
                text = textpage.get_text_range()
            finally:
                textpage.close()
            if not limits.ocr or not _needs_ocr(page, text):
                return text, None
            image = page.render(scale=limits.ocr_dpi / 72, grayscale=True).to_pil()
        finally:
            page.close()
    return text, to_png(image, limits.ocr_dpi)


class _Pages:
    """Pages turned into blocks in order, while scanned pages wait for OCR in batches."""

    def __init__(
        self, total: int, marks: Bookmarks, limits: ExtractionLimits, progress: Progress
    ) -> None:
        self.total = total
        self.marks = marks
        self.limits = limits
        self.progress = progress
        self.lines: dict[int, list[str]] = {}
        self.scans: list[tuple[int, bytes]] = []
        self.done = 0
        self.path = HeadingPath()
        self.blocks: list[Block] = []

    def text(self, index: int, text: str) -> None:
        self.lines[index] = _lines(text)
        self._advance()

    def scan(self, index: int, png: bytes) -> None:
        self.scans.append((index, png))
        if len(self.scans) >= OCR_BATCH:
            self.flush()

    def flush(self) -> None:
        """OCR the waiting scans, then turn every page ready in order into blocks."""
        if self.scans:
            texts = ocr_pages([png for _, png in self.scans], self.limits)
            for (index, _), paragraphs in zip(self.scans, texts, strict=True):
                self.lines[index] = "\n\n".join(paragraphs).split("\n")
            self.scans = []
        self._advance()

    def _advance(self) -> None:
        while self.done in self.lines:
            lines = self.lines.pop(self.done)
            marks = self.marks.get(self.done, [])
            self.blocks.extend(page_blocks(lines, self.done + 1, marks, self.path))
            self.done += 1
            if self.progress is not None:
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
            title = inline(pdf.get_metadata_value("Title")) or None
            marks = _bookmarks(pdf)
        pages = _Pages(total, marks, limits, progress)
        scanned = 0
        for index in range(total):
            text, png = _read_page(pdf, index, limits)
            if png is None:
                pages.text(index, text)
            else:
                scanned += 1
                pages.scan(index, png)
        pages.flush()
    except pdfium.PdfiumError as exc:
        raise BrokenFile() from exc
    finally:
        with PDFIUM_LOCK:
            pdf.close()
    if not limits.ocr and all(is_blank(block.text) for block in pages.blocks):
        raise EmptyDocument(
            "No text could be found in the document: if it is a scan, text recognition "
            "(OCR) is turned off."
        )
    return ExtractedDocument("pdf", pages.blocks, total, title, scanned)
