"""Markdown as a Word (python-docx) or OpenDocument (odfpy) file, keeping its structure.

Headings stay headings, list items list items (bulleted or numbered, nested), tables
tables with a header row, links real hyperlinks, bold and italic runs. odfpy was chosen
for ODT because it is already Autan's ODT reader (`documents/extraction`), is the
reference implementation of the ODF element tree in Python, and writes valid packages
without a LibreOffice install; odfdo would have been a second library for the same job.
"""

from __future__ import annotations

import io

from docx import Document as DocxDocument
from docx.enum.text import WD_BREAK
from docx.opc.constants import RELATIONSHIP_TYPE
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.text.paragraph import Paragraph
from odf import style as odf_style
from odf import table as odf_table
from odf import text as odf_text
from odf.element import Element
from odf.opendocument import OpenDocumentText

from autan.exports.blocks import Block, Span, parse

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ODT = "application/vnd.oasis.opendocument.text"
MARKDOWN = "text/markdown; charset=utf-8"


def _docx_hyperlink(paragraph: Paragraph, span: Span) -> None:
    part = paragraph.part
    rel = part.relate_to(span.href or "", RELATIONSHIP_TYPE.HYPERLINK, is_external=True)
    link = OxmlElement("w:hyperlink")
    link.set(qn("r:id"), rel)
    run = OxmlElement("w:r")
    props = OxmlElement("w:rPr")
    rstyle = OxmlElement("w:rStyle")
    rstyle.set(qn("w:val"), "Hyperlink")
    props.append(rstyle)
    underline = OxmlElement("w:u")
    underline.set(qn("w:val"), "single")
    props.append(underline)
    run.append(props)
    text = OxmlElement("w:t")
    text.text = span.text
    text.set(qn("xml:space"), "preserve")
    run.append(text)
    link.append(run)
    paragraph._p.append(link)


def _docx_spans(paragraph: Paragraph, spans: list[Span]) -> None:
    for span in spans:
        if span.href:
            _docx_hyperlink(paragraph, span)
            continue
        if span.text == "\n":
            paragraph.add_run().add_break(WD_BREAK.LINE)
            continue
        run = paragraph.add_run(span.text)
        run.bold = span.bold or None
        run.italic = span.italic or None
        if span.code:
            run.font.name = "Courier New"


def _list_style(block: Block) -> str:
    base = "List Number" if block.ordered else "List Bullet"
    return base if block.level <= 1 else f"{base} {min(block.level, 3)}"


def docx_bytes(markdown: str) -> bytes:
    """The Markdown text as a Word document."""
    document = DocxDocument()
    for block in parse(markdown):
        if block.kind == "heading":
            paragraph = document.add_heading("", level=min(block.level, 9))
            _docx_spans(paragraph, block.spans)
        elif block.kind == "item":
            _docx_spans(document.add_paragraph(style=_list_style(block)), block.spans)
        elif block.kind == "table" and block.rows:
            width = max(len(row) for row in block.rows)
            grid = document.add_table(rows=len(block.rows), cols=width)
            grid.style = "Table Grid"
            for r, cells in enumerate(block.rows):
                for c, spans in enumerate(cells):
                    paragraph = grid.cell(r, c).paragraphs[0]
                    _docx_spans(
                        paragraph,
                        [
                            Span(s.text, s.bold or r < block.header_rows, s.italic, s.href, s.code)
                            for s in spans
                        ],
                    )
        elif block.kind == "quote":
            _docx_spans(document.add_paragraph(style="Quote"), block.spans)
        else:
            _docx_spans(document.add_paragraph(), block.spans)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


class _OdtStyles:
    """The few automatic styles an ODT export needs, declared once per document."""

    def __init__(self, document: OpenDocumentText) -> None:
        self.bold = odf_style.Style(name="Bold", family="text")
        self.bold.addElement(odf_style.TextProperties(fontweight="bold"))
        self.italic = odf_style.Style(name="Italic", family="text")
        self.italic.addElement(odf_style.TextProperties(fontstyle="italic"))
        self.code = odf_style.Style(name="Code", family="text")
        self.code.addElement(odf_style.TextProperties(fontfamily="monospace"))
        self.headings = []
        for level in range(1, 7):
            heading = odf_style.Style(
                name=f"Heading_20_{level}",
                displayname=f"Heading {level}",
                family="paragraph",
                defaultoutlinelevel=str(level),
            )
            heading.addElement(
                odf_style.TextProperties(fontsize=f"{max(22 - 2 * level, 11)}pt", fontweight="bold")
            )
            document.styles.addElement(heading)
            self.headings.append(heading)
        for item in (self.bold, self.italic, self.code):
            document.automaticstyles.addElement(item)
        self.bullets = odf_text.ListStyle(name="Bullets")
        self.numbers = odf_text.ListStyle(name="Numbers")
        for level in range(1, 6):
            self.bullets.addElement(odf_text.ListLevelStyleBullet(level=level, bulletchar="•"))
            self.numbers.addElement(
                odf_text.ListLevelStyleNumber(level=level, numformat="1", numsuffix=".")
            )
        document.automaticstyles.addElement(self.bullets)
        document.automaticstyles.addElement(self.numbers)


def _odt_spans(parent: Element, spans: list[Span], styles: _OdtStyles) -> None:
    for span in spans:
        if span.text == "\n":
            parent.addElement(odf_text.LineBreak())
            continue
        target: Element = parent
        if span.href:
            target = odf_text.A(href=span.href, type="simple")
            parent.addElement(target)
        if span.bold or span.italic or span.code:
            chosen = styles.code if span.code else styles.bold if span.bold else styles.italic
            styled = odf_text.Span(stylename=chosen)
            styled.addText(span.text)
            target.addElement(styled)
        else:
            target.addText(span.text)


def _odt_list_item(
    body: Element, block: Block, styles: _OdtStyles, open_lists: list[Element]
) -> None:
    """Nest `text:list` elements down to the item's depth, then add the item."""
    while len(open_lists) > block.level:
        open_lists.pop()
    while len(open_lists) < block.level:
        lst = odf_text.List(stylename=styles.numbers if block.ordered else styles.bullets)
        if open_lists:
            holder = odf_text.ListItem()
            open_lists[-1].addElement(holder)
            holder.addElement(lst)
        else:
            body.addElement(lst)
        open_lists.append(lst)
    item = odf_text.ListItem()
    paragraph = odf_text.P()
    _odt_spans(paragraph, block.spans, styles)
    item.addElement(paragraph)
    open_lists[-1].addElement(item)


def odt_bytes(markdown: str) -> bytes:
    """The Markdown text as an OpenDocument text file."""
    document = OpenDocumentText()
    styles = _OdtStyles(document)
    body = document.text
    open_lists: list[Element] = []
    tables = 0
    for block in parse(markdown):
        if block.kind != "item":
            open_lists = []
        if block.kind == "heading":
            level = min(block.level, 6)
            heading = odf_text.H(outlinelevel=level, stylename=styles.headings[level - 1])
            _odt_spans(heading, block.spans, styles)
            body.addElement(heading)
        elif block.kind == "item":
            _odt_list_item(body, block, styles, open_lists)
        elif block.kind == "table" and block.rows:
            tables += 1
            grid = odf_table.Table(name=f"Table{tables}")
            width = max(len(row) for row in block.rows)
            grid.addElement(odf_table.TableColumn(numbercolumnsrepeated=width))
            for r, cells in enumerate(block.rows):
                row = odf_table.TableRow()
                for spans in cells:
                    cell = odf_table.TableCell(valuetype="string")
                    paragraph = odf_text.P()
                    bold = [Span(s.text, True, s.italic, s.href) for s in spans]
                    _odt_spans(paragraph, bold if r < block.header_rows else spans, styles)
                    cell.addElement(paragraph)
                    row.addElement(cell)
                if r < block.header_rows:
                    header = odf_table.TableHeaderRows()
                    header.addElement(row)
                    grid.addElement(header)
                else:
                    grid.addElement(row)
            body.addElement(grid)
        else:
            paragraph = odf_text.P()
            _odt_spans(paragraph, block.spans, styles)
            body.addElement(paragraph)
    buffer = io.BytesIO()
    document.write(buffer)
    return buffer.getvalue()
