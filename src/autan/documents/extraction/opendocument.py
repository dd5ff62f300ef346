"""OpenDocument (LibreOffice): text (.odt), spreadsheets (.ods) and presentations (.odp)."""

from __future__ import annotations

import io
import xml.sax
import zipfile
from collections.abc import Callable, Iterator

from odf.element import Element, Node
from odf.namespaces import DCNS, DRAWNS, PRESENTATIONNS, TABLENS, TEXTNS
from odf.opendocument import OpenDocument, load

from autan.documents.extraction.errors import BrokenFile, EncryptedFile, TooManyPages
from autan.documents.extraction.model import (
    Block,
    ExtractedDocument,
    ExtractionLimits,
    HeadingPath,
    ensure,
)
from autan.documents.extraction.normalise import inline, metadata_title, normalise, table_row
from autan.documents.extraction.sniff import check_zip
from autan.documents.extraction.tables import table_blocks

Progress = Callable[[int, int], None] | None
# Spreadsheets store "the next 1,048,000 rows are empty" as one repeated row; repeated
# rows and cells with content are expanded up to these bounds only.
MAX_ROW_REPEAT = 1000
MAX_CELL_REPEAT = 100
_SKIPPED_TEXT = {(TEXTNS, "note-citation"), (TEXTNS, "tracked-changes"), (TEXTNS, "bookmark")}
_SKIPPED_BODY = {
    (TEXTNS, "table-of-content"),
    (TEXTNS, "sequence-decls"),
    (TEXTNS, "tracked-changes"),
}
_BROKEN = (zipfile.BadZipFile, KeyError, ValueError, xml.sax.SAXException, EOFError, IndexError)


def text_of(element: Element) -> str:
    """The text of an element: spaces, tabs and line breaks as written, notes inline.

    Unlike odf.teletype, ``<text:s text:c="N">`` becomes one space whatever N says.
    """
    parts: list[str] = []
    for child in element.childNodes:
        if child.nodeType == Node.TEXT_NODE:
            parts.append(child.data)
        elif child.nodeType == Node.ELEMENT_NODE and child.qname not in _SKIPPED_TEXT:
            if child.qname in ((TEXTNS, "s"), (TEXTNS, "tab")):
                parts.append(" ")
            elif child.qname == (TEXTNS, "line-break"):
                parts.append("\n")
            else:
                parts.append(text_of(child))
    return "".join(parts)


def _attr(element: Element, namespace: str, name: str) -> str | None:
    value = element.attributes.get((namespace, name))
    return str(value) if value is not None else None


def _repeat(element: Element, name: str, bound: int) -> int:
    value = _attr(element, TABLENS, name)
    return min(int(value), bound) if value and value.isdigit() else 1


def _elements(element: Element) -> Iterator[Element]:
    return (child for child in element.childNodes if child.nodeType == Node.ELEMENT_NODE)


def _table_rows(table: Element) -> Iterator[str]:
    """Rows of a table:table (header rows and row groups included), repeats expanded."""
    for child in _elements(table):
        if child.qname == (TABLENS, "table-row"):
            cells: list[str] = []
            for cell in _elements(child):
                if cell.qname[1] not in ("table-cell", "covered-table-cell"):
                    continue
                text = " ".join(text_of(p) for p in _elements(cell))
                repeat = _repeat(cell, "number-columns-repeated", MAX_CELL_REPEAT)
                # Before the row is built: 100 copies of a long cell would be a huge string.
                ensure(len(text) * repeat)
                cells.extend([text] * repeat)
            row = table_row(cells)
            if row:
                yield from [row] * _repeat(child, "number-rows-repeated", MAX_ROW_REPEAT)
        elif child.qname[1] in ("table-header-rows", "table-rows", "table-row-group"):
            yield from _table_rows(child)


_SOFT_BREAK = (TEXTNS, "soft-page-break")


def _breaks(element: Element) -> int:
    """Soft page breaks inside an element (LibreOffice records its last layout's breaks)."""
    return sum(1 if child.qname == _SOFT_BREAK else _breaks(child) for child in _elements(element))


def _starts_with_break(element: Element) -> bool:
    for child in element.childNodes:
        if child.nodeType == Node.TEXT_NODE and child.data.strip():
            return False
        if child.nodeType == Node.ELEMENT_NODE:
            return bool(child.qname == _SOFT_BREAK)
    return False


class _TextWalker:
    """The body of an .odt (or a slide's text box) in reading order.

    With `count_pages`, soft page breaks move the page on, as Word's layout marks do.
    """

    def __init__(self, page: int | None, path: HeadingPath, count_pages: bool = False) -> None:
        self.page = page
        self.path = path
        self.count_pages = count_pages and page is not None
        self.blocks: list[Block] = []
        self.first_h1: str | None = None

    def walk(self, element: Element, bullet: str = "") -> None:
        for child in _elements(element):
            name = child.qname
            page = self.page
            if name == _SOFT_BREAK:
                self._turn(1)
            elif name in ((TEXTNS, "h"), (TEXTNS, "p")):
                breaks = _breaks(child) if self.count_pages else 0
                if breaks and _starts_with_break(child):
                    # The page broke just before this paragraph: it starts on the next page.
                    self._turn(1)
                    breaks -= 1
                if name == (TEXTNS, "h"):
                    self._heading(child)
                else:
                    self._paragraph(child, bullet)
                self._turn(breaks)
            elif name == (TEXTNS, "list"):
                for item in _elements(child):
                    self.walk(item, "- ")
            elif name == (TABLENS, "table"):
                self.blocks.extend(table_blocks(_table_rows(child), page, self.path.current))
                self._turn(_breaks(child))
            elif name not in _SKIPPED_BODY:
                self.walk(child, bullet)  # sections, frames, text boxes, shapes

    def _turn(self, pages: int) -> None:
        if self.count_pages and pages and self.page is not None:
            self.page += pages

    def _paragraph(self, element: Element, bullet: str) -> None:
        text = normalise(text_of(element))
        if text:
            self.blocks.append(Block(bullet + text, self.page, self.path.current, "text"))

    def _heading(self, element: Element) -> None:
        text = inline(text_of(element))
        if not text:
            return
        level_attr = _attr(element, TEXTNS, "outline-level")
        level = int(level_attr) if level_attr and level_attr.isdigit() else 1
        if level == 1 and self.first_h1 is None:
            self.first_h1 = text
        self.blocks.append(Block(text, self.page, self.path.enter(level, text), "heading"))


def _title(document: OpenDocument) -> str | None:
    for element in _elements(document.meta):
        if element.qname == (DCNS, "title"):
            return metadata_title(text_of(element))
    return None


def _load(data: bytes, limits: ExtractionLimits) -> OpenDocument:
    check_zip(data, limits.max_unpacked_bytes)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            manifest = archive.read("META-INF/manifest.xml")
        if b"encryption-data" in manifest:
            raise EncryptedFile()
        return load(io.BytesIO(data))
    except _BROKEN as exc:
        raise BrokenFile() from exc


def extract_odt(data: bytes, limits: ExtractionLimits, progress: Progress) -> ExtractedDocument:
    """An OpenDocument text: text:h outline levels drive the heading path.

    LibreOffice records where pages broke when it last laid the document out; when those
    marks are there, blocks get page numbers, else pages are unknown (None).
    """
    document = _load(data, limits)
    paged = _breaks(document.text) > 0
    walker = _TextWalker(1 if paged else None, HeadingPath(), count_pages=paged)
    walker.walk(document.text)
    pages = walker.page or 1
    if pages > limits.max_pages:
        raise TooManyPages(pages, limits.max_pages)
    if progress is not None:
        progress(pages, pages)
    title = _title(document) or walker.first_h1
    return ExtractedDocument("odt", walker.blocks, pages, title, 0)


def extract_ods(data: bytes, limits: ExtractionLimits, progress: Progress) -> ExtractedDocument:
    """A spreadsheet: one page per sheet, the sheet name as heading."""
    document = _load(data, limits)
    sheets = [e for e in _elements(document.spreadsheet) if e.qname == (TABLENS, "table")]
    if len(sheets) > limits.max_pages:
        raise TooManyPages(len(sheets), limits.max_pages, "sheets")
    blocks: list[Block] = []
    for page, sheet in enumerate(sheets, start=1):
        name = inline(_attr(sheet, TABLENS, "name") or "") or f"Feuille {page}"
        tables = table_blocks(_table_rows(sheet), page, (name,))
        if tables:
            blocks.append(Block(name, page, (name,), "heading"))
            blocks.extend(tables)
        if progress is not None:
            progress(page, len(sheets))
    return ExtractedDocument("ods", blocks, len(sheets), _title(document), 0)


def _frames(element: Element) -> Iterator[Element]:
    for child in _elements(element):
        if child.qname == (DRAWNS, "g"):
            yield from _frames(child)
        elif child.qname[0] == DRAWNS:
            yield child


def _slide_blocks(slide: Element, page: int, path: HeadingPath) -> list[Block]:
    frames = list(_frames(slide))
    title = ""
    for frame in frames:
        if _attr(frame, PRESENTATIONNS, "class") == "title":
            title = inline(text_of(frame))
            break
    headings = path.reset(title) if title else path.reset()
    walker = _TextWalker(page, path)
    if title:
        walker.blocks.append(Block(title, page, headings, "heading"))
    notes: list[str] = []
    for frame in frames:
        kind = _attr(frame, PRESENTATIONNS, "class")
        if kind not in ("title", "page-number", "footer", "date-time"):
            walker.walk(frame)
    for child in _elements(slide):
        if child.qname == (PRESENTATIONNS, "notes"):
            for frame in _frames(child):
                if _attr(frame, PRESENTATIONNS, "class") != "page":  # the slide thumbnail
                    notes.append(normalise(text_of(frame)))
    note_text = "\n".join(note for note in notes if note)
    if note_text:
        walker.blocks.append(Block(f"Notes : {note_text}", page, headings, "text"))
    return walker.blocks


def extract_odp(data: bytes, limits: ExtractionLimits, progress: Progress) -> ExtractedDocument:
    """A presentation: one page per slide, its title frame as heading, notes included."""
    document = _load(data, limits)
    slides = [e for e in _elements(document.presentation) if e.qname == (DRAWNS, "page")]
    if len(slides) > limits.max_pages:
        raise TooManyPages(len(slides), limits.max_pages, "slides")
    path = HeadingPath()
    blocks: list[Block] = []
    for page, slide in enumerate(slides, start=1):
        blocks.extend(_slide_blocks(slide, page, path))
        if progress is not None:
            progress(page, len(slides))
    first_title = next((block.text for block in blocks if block.kind == "heading"), None)
    return ExtractedDocument("odp", blocks, len(slides), _title(document) or first_title, 0)
