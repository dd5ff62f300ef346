"""Office Open XML: Word (.docx), PowerPoint (.pptx) and Excel (.xlsx)."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import openpyxl
from docx.document import Document as WordDocument
from docx.oxml.ns import qn
from docx.package import Package as WordPackage
from docx.table import Table as WordTable
from docx.text.paragraph import Paragraph
from lxml import etree
from pptx.enum.shapes import MSO_SHAPE_TYPE, PP_PLACEHOLDER
from pptx.package import Package as SlidesPackage
from pptx.presentation import Presentation
from pptx.shapes.base import BaseShape
from pptx.slide import Slide

from autan.documents.extraction.errors import BrokenFile, TooManyPages
from autan.documents.extraction.model import (
    Block,
    ExtractedDocument,
    ExtractionLimits,
    HeadingPath,
    charge,
)
from autan.documents.extraction.normalise import inline, metadata_title, normalise, table_row
from autan.documents.extraction.sniff import check_zip
from autan.documents.extraction.tables import table_blocks

Progress = Callable[[int, int], None] | None
# "Heading 2" (English names, used by Word in every language and by LibreOffice), "Titre 2"
# (French names some generators write), "Title" / "Titre" for the document's title.
_HEADING_STYLE = re.compile(r"^(?:heading|titre)\s*([1-9])$", re.IGNORECASE)
_TITLE_STYLES = {"title", "titre"}
# Errors the OOXML libraries raise on damaged packages and XML.
_BROKEN = (KeyError, ValueError, zipfile.BadZipFile, etree.XMLSyntaxError, EOFError, TypeError)
_SKIPPED_PLACEHOLDERS = {PP_PLACEHOLDER.SLIDE_NUMBER, PP_PLACEHOLDER.FOOTER, PP_PLACEHOLDER.DATE}


# --- Word ---------------------------------------------------------------------------


def _style_levels(document: WordDocument) -> dict[str, int]:
    """Heading level of each paragraph style id (0 = the document's title)."""
    levels: dict[str, int] = {}
    for style in document.styles:
        style_id = style.style_id
        name = (style.name or "").strip()
        match = _HEADING_STYLE.match(name) or _HEADING_STYLE.match(style_id or "")
        if match:
            levels[style_id] = int(match.group(1))
        elif name.lower() in _TITLE_STYLES or (style_id or "").lower() in _TITLE_STYLES:
            levels[style_id] = 0
        else:
            outline = style.element.find(f"{qn('w:pPr')}/{qn('w:outlineLvl')}")
            if outline is not None and outline.get(qn("w:val"), "9").isdigit():
                value = int(outline.get(qn("w:val"), "9"))
                if value < 9:  # 9 means body text
                    levels[style_id] = value + 1
    return levels


def _paragraph_level(element: Any, levels: dict[str, int]) -> int | None:
    outline = element.find(f"{qn('w:pPr')}/{qn('w:outlineLvl')}")
    if outline is not None and outline.get(qn("w:val"), "9").isdigit():
        value = int(outline.get(qn("w:val"), "9"))
        return value + 1 if value < 9 else None
    style_id = element.style
    return levels.get(style_id) if style_id else None


_T, _P, _TBL, _SDT = qn("w:t"), qn("w:p"), qn("w:tbl"), qn("w:sdt")
_CONTAINERS = {qn("w:sdtContent"), qn("w:customXml"), qn("w:ins"), qn("w:moveTo")}
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_CHARACTERS = {qn("w:tab"): " ", qn("w:br"): "\n", qn("w:cr"): "\n", qn("w:noBreakHyphen"): "-"}
# Deleted revisions, field codes, and the old-format copy Word keeps of each text box.
_SKIPPED = {qn("w:del"), qn("w:delText"), qn("w:moveFrom"), _MC_FALLBACK, qn("w:instrText")}


def xml_text(element: Any) -> str:
    """All the text of a paragraph or cell, in order.

    Unlike python-docx's ``.text``, it includes runs inside content controls, fields,
    smart tags and tracked insertions, and the text of text boxes (each on its own line).
    """
    parts: list[str] = []

    def walk(node: Any) -> None:
        for child in node:
            tag = child.tag
            if tag == _T:
                parts.append(child.text or "")
            elif tag in _CHARACTERS:
                parts.append(_CHARACTERS[tag])
            elif tag == _P:
                parts.append("\n")  # a paragraph of a text box or a cell
                walk(child)
                parts.append("\n")
            elif tag not in _SKIPPED:
                walk(child)

    walk(element)
    return "".join(parts)


def body_items(element: Any) -> Iterator[Any]:
    """Paragraph and table elements of a body in order, also inside content controls."""
    for child in element:
        if child.tag in (_P, _TBL):
            yield child
        elif child.tag == _SDT or child.tag in _CONTAINERS:
            yield from body_items(child)


def _word_rows(table: WordTable) -> Iterator[str]:
    for row in table.rows:
        cells: list[str] = []
        last: Any = None
        for cell in row.cells:
            # A horizontally merged cell is returned once per grid column it spans.
            if cell._tc is last:
                continue
            last = cell._tc
            cells.append(xml_text(cell._tc))
        yield table_row(cells)


def _rendered_breaks(element: Any) -> int:
    return len(element.findall(f".//{qn('w:lastRenderedPageBreak')}"))


def extract_docx(data: bytes, limits: ExtractionLimits, progress: Progress) -> ExtractedDocument:
    """A Word document: heading styles drive the path, tables stay in body order.

    Word records where pages broke when it last laid the document out; when those marks
    are there, blocks get page numbers, else pages are unknown (None).
    """
    check_zip(data, limits.max_unpacked_bytes)
    try:
        part = WordPackage.open(io.BytesIO(data)).main_document_part
        document: WordDocument = part.document
        levels = _style_levels(document)
        paged = _rendered_breaks(document.element.body) > 0
        page = 1
        path = HeadingPath()
        blocks: list[Block] = []
        title = metadata_title(document.core_properties.title)
        first_heading: str | None = None
        body = document._body
        for element in body_items(document.element.body):
            where = page if paged else None
            if element.tag == _TBL:
                table = WordTable(element, body)
                blocks.extend(table_blocks(_word_rows(table), where, path.current))
                page += _rendered_breaks(element)
                continue
            item = Paragraph(element, body)
            # Breaks anywhere in the paragraph (content controls, text boxes) count.
            count = _rendered_breaks(element) if paged else 0
            first = item.rendered_page_breaks[:1] if count else []
            if first and first[0].preceding_paragraph_fragment is None:
                # The page broke just before this paragraph: it starts on the next page.
                page += 1
                count -= 1
            where = page if paged else None
            page += count
            text = normalise(xml_text(element))
            if not text:
                continue
            level = _paragraph_level(element, levels)
            if level is None:
                blocks.append(Block(text, where, path.current, "text"))
                continue
            heading = inline(text)
            if level == 0:
                title = title or heading
                blocks.append(Block(heading, where, path.current, "heading"))
                continue
            first_heading = first_heading or (heading if level == 1 else None)
            blocks.append(Block(heading, where, path.enter(level, heading), "heading"))
    except _BROKEN as exc:
        raise BrokenFile() from exc
    pages = page if paged else 1
    if pages > limits.max_pages:
        raise TooManyPages(pages, limits.max_pages)
    if progress is not None:
        progress(pages, pages)
    return ExtractedDocument("docx", blocks, pages, title or first_heading, 0)


# --- PowerPoint ---------------------------------------------------------------------


def _shape_blocks(shape: BaseShape, page: int, headings: tuple[str, ...]) -> Iterator[Block]:
    if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
        for child in _reading_order(shape.shapes):  # type: ignore[attr-defined]
            yield from _shape_blocks(child, page, headings)
        return
    if shape.is_placeholder and shape.placeholder_format.type in _SKIPPED_PLACEHOLDERS:
        return
    if getattr(shape, "has_table", False):
        rows = (table_row([cell.text for cell in row.cells]) for row in shape.table.rows)  # type: ignore[attr-defined]
        yield from table_blocks(rows, page, headings)
    elif getattr(shape, "has_text_frame", False):
        lines = [inline(paragraph.text) for paragraph in shape.text_frame.paragraphs]  # type: ignore[attr-defined]
        text = "\n".join(line for line in lines if line)
        if text:
            yield Block(text, page, headings, "text")


def _reading_order(shapes: Iterable[BaseShape]) -> list[BaseShape]:
    """Shapes top to bottom, then left to right (the order of the XML is the z-order)."""
    return sorted(shapes, key=lambda shape: (shape.top or 0, shape.left or 0))


def _slide_blocks(slide: Slide, page: int, path: HeadingPath) -> list[Block]:
    title_shape = slide.shapes.title
    title = inline(title_shape.text_frame.text) if title_shape is not None else ""
    headings = path.reset(title) if title else path.reset()
    blocks = [Block(title, page, headings, "heading")] if title else []
    for shape in _reading_order(slide.shapes):
        if title_shape is not None and shape.shape_id == title_shape.shape_id:
            continue
        blocks.extend(_shape_blocks(shape, page, headings))
    if slide.has_notes_slide:
        notes_frame = slide.notes_slide.notes_text_frame
        notes = normalise(notes_frame.text) if notes_frame is not None else ""
        if notes:
            blocks.append(Block(f"Notes : {notes}", page, headings, "text"))
    return blocks


def extract_pptx(data: bytes, limits: ExtractionLimits, progress: Progress) -> ExtractedDocument:
    """A presentation: one page per slide, its title as heading, speaker notes included."""
    check_zip(data, limits.max_unpacked_bytes)
    try:
        part = SlidesPackage.open(io.BytesIO(data)).main_document_part
        presentation: Presentation = part.presentation
        slides = list(presentation.slides)
        if len(slides) > limits.max_pages:
            raise TooManyPages(len(slides), limits.max_pages, "slides")
        path = HeadingPath()
        blocks: list[Block] = []
        for index, slide in enumerate(slides, start=1):
            blocks.extend(_slide_blocks(slide, index, path))
            if progress is not None:
                progress(index, len(slides))
        title = metadata_title(presentation.core_properties.title)
    except _BROKEN as exc:
        raise BrokenFile() from exc
    first_title = next((block.text for block in blocks if block.kind == "heading"), None)
    return ExtractedDocument("pptx", blocks, len(slides), title or first_title, 0)


# --- Excel --------------------------------------------------------------------------


def cell_text(value: object, number_format: str | None = None) -> str:
    """A cell's value as a person reads it: 12 not 12.0, 25 % not 0.25, dates without midnight."""
    if value is None:
        return ""
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and "%" in (number_format or "")
    ):
        return f"{value * 100:.10g} %"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time():
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _sheet_rows(sheet: Any) -> Iterator[str]:
    """Rows of a sheet as text; every row and cell read counts against the text budget.

    A sheet may hold a cell at XFD1048576 alone: openpyxl then yields a million empty rows,
    and pads rows with thousands of empty cells; each counts (at least one character), so
    such a sheet stops being read instead of keeping the worker busy for hours.
    """
    for row in sheet.iter_rows():
        charge(max(1, len(row)))
        yield table_row(
            [cell_text(cell.value, getattr(cell, "number_format", None)) for cell in row]
        )


def extract_xlsx(data: bytes, limits: ExtractionLimits, progress: Progress) -> ExtractedDocument:
    """A workbook: one page per sheet, the sheet name as heading, rows as ``A | B | C``."""
    check_zip(data, limits.max_unpacked_bytes)
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (*_BROKEN, OSError) as exc:
        raise BrokenFile() from exc
    try:
        names = workbook.sheetnames
        if len(names) > limits.max_pages:
            raise TooManyPages(len(names), limits.max_pages, "sheets")
        blocks: list[Block] = []
        for sheet in workbook.worksheets:
            page = names.index(sheet.title) + 1
            # The stored dimension may claim A1:XFD1048576; rows would be padded to it.
            sheet.reset_dimensions()
            name = inline(sheet.title)
            tables = table_blocks(_sheet_rows(sheet), page, (name,))
            if tables:
                blocks.append(Block(name, page, (name,), "heading"))
                blocks.extend(tables)
            if progress is not None:
                progress(page, len(names))
        title = metadata_title(workbook.properties.title)
    except _BROKEN as exc:
        raise BrokenFile() from exc
    finally:
        workbook.close()
    return ExtractedDocument("xlsx", blocks, len(names), title, 0)
