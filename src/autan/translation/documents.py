"""A document's translatable text, segment by segment, and the document written back.

Each format is rewritten in place, so its structure stays as it was: in Markdown, every
block (heading, list item, table cell, paragraph) keeps its marker; in DOCX, every
paragraph (body and table cells) keeps its style (headings, lists) and only its text
changes; in ODT, every `text:h` and `text:p` (in lists and table cells too) keeps its
element and style. Segments are cut into sections at headings for the map-reduce.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from docx import Document as DocxDocument
from odf import teletype
from odf import text as odf_text
from odf.element import Element
from odf.namespaces import TEXTNS
from odf.opendocument import load as load_odt

from autan.exports.blocks import Block, Span, parse, to_markdown
from autan.exports.blocks import inline_markdown as block_inline

FORMATS = {"md": "md", "markdown": "md", "txt": "md", "docx": "docx", "odt": "odt"}


@dataclass
class Segment:
    """One piece of text to translate; `heading` starts a new section."""

    text: str
    heading: bool = False


@dataclass
class Translatable:
    """The segments of a document and how to write it back with their translations."""

    segments: list[Segment]
    write: Callable[[list[str]], bytes]
    sections: list[list[int]] = field(default_factory=list)


class DocumentUnreadable(ValueError):
    """The file is not a readable document of its format."""


def _markdown(data: bytes) -> Translatable:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentUnreadable() from exc
    blocks = parse(text)
    segments: list[Segment] = []
    places: list[tuple[int, int, int]] = []  # (block, row, cell); row -1: not a table
    for b, block in enumerate(blocks):
        if block.kind == "table":
            for r, row in enumerate(block.rows):
                for c, cell in enumerate(row):
                    segments.append(Segment(block_inline(cell)))
                    places.append((b, r, c))
        elif block.kind != "code":
            segments.append(Segment(block_inline(block.spans), heading=block.kind == "heading"))
            places.append((b, -1, 0))

    def write(translated: list[str]) -> bytes:
        out = [
            Block(
                b.kind,
                list(b.spans),
                b.level,
                b.ordered,
                b.number,
                [list(row) for row in b.rows],
                b.header_rows,
            )
            for b in blocks
        ]
        for (b, r, c), text in zip(places, translated, strict=True):
            spans = [Span(text)]  # already Markdown inline: written as is
            if r < 0:
                out[b].spans = spans
            else:
                out[b].rows[r][c] = spans
        return to_markdown(out, raw=True).encode()

    return Translatable(segments, write)


def _docx(data: bytes) -> Translatable:
    try:
        document = DocxDocument(io.BytesIO(data))
    except Exception as exc:  # python-docx raises many kinds for a bad package
        raise DocumentUnreadable() from exc
    paragraphs = list(document.paragraphs)
    for table in document.tables:
        for row in table.rows:
            for cell in row.cells:
                paragraphs.extend(cell.paragraphs)
    kept = [p for p in paragraphs if p.text.strip()]
    segments = [
        Segment(
            p.text,
            heading=bool(
                p.style is not None and str(p.style.name).startswith(("Heading", "Title"))
            ),
        )
        for p in kept
    ]

    def write(translated: list[str]) -> bytes:
        for paragraph, text in zip(kept, translated, strict=True):
            runs = paragraph.runs
            if runs:
                runs[0].text = text
                for run in runs[1:]:
                    run.text = ""
            else:
                paragraph.add_run(text)
        buffer = io.BytesIO()
        document.save(buffer)
        return buffer.getvalue()

    return Translatable(segments, write)


def _odt(data: bytes) -> Translatable:
    try:
        document = load_odt(io.BytesIO(data))
    except Exception as exc:  # odfpy raises zip, XML and key errors for a bad package
        raise DocumentUnreadable() from exc
    elements: list[Element] = []
    for element in document.text.getElementsByType(odf_text.H) + document.text.getElementsByType(
        odf_text.P
    ):
        if teletype.extractText(element).strip():
            elements.append(element)
    # Document order, so that sections follow the text.
    order = {id(e): i for i, e in enumerate(_walk(document.text))}
    elements.sort(key=lambda e: order.get(id(e), 0))
    segments = [
        Segment(teletype.extractText(e), heading=e.qname == (TEXTNS, "h")) for e in elements
    ]

    def write(translated: list[str]) -> bytes:
        for element, text in zip(elements, translated, strict=True):
            # odfpy cannot remove a text node from a loaded document (its caches hold
            # elements only): the first text node takes the translation, the others empty.
            nodes = _text_nodes(element)
            if not nodes:
                element.addText(text)
                continue
            nodes[0].data = text
            for node in nodes[1:]:
                node.data = ""
        buffer = io.BytesIO()
        document.write(buffer)
        return buffer.getvalue()

    return Translatable(segments, write)


def _text_nodes(node: Element) -> list[Any]:
    found: list[Any] = []
    for child in node.childNodes:
        if child.nodeType == child.TEXT_NODE:
            found.append(child)
        elif child.nodeType == child.ELEMENT_NODE:
            found.extend(_text_nodes(child))
    return found


def _walk(node: Element) -> list[Element]:
    found = [node]
    for child in node.childNodes:
        if child.nodeType == child.ELEMENT_NODE:
            found.extend(_walk(child))
    return found


def read(data: bytes, fmt: str) -> Translatable:
    """The document's segments, cut into sections, with its writer."""
    reader = {"md": _markdown, "docx": _docx, "odt": _odt}[fmt]
    found = reader(data)
    found.sections = sections(found.segments)
    return found


def sections(segments: list[Segment], budget: int = 1500) -> list[list[int]]:
    """Segment numbers grouped into sections: a heading starts one, and none grows much
    beyond `budget` characters (one long segment is a section of its own)."""
    out: list[list[int]] = []
    size = 0
    for index, segment in enumerate(segments):
        if not out or segment.heading or size + len(segment.text) > budget:
            out.append([])
            size = 0
        out[-1].append(index)
        size += len(segment.text)
    return out
