"""Flat text formats: plain text, Markdown (headings drive the path) and CSV."""

from __future__ import annotations

import csv
import io
import re

from markdown_it import MarkdownIt
from markdown_it.token import Token

from autan.documents.extraction.model import Block, ExtractedDocument, HeadingPath
from autan.documents.extraction.normalise import inline, normalise, paragraphs, table_row
from autan.documents.extraction.tables import table_blocks

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
CSV_DELIMITERS = ",;\t|"
# Raw HTML inside Markdown: its text is content, its tags are not.
_TAG = re.compile(r"<[^>]*>")
CSV_SNIFF_CHARS = 64 * 1024


def decode(data: bytes) -> str:
    """Text of a file: its byte order mark, else UTF-8, else Windows-1252 (old French files)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # cp1252 leaves 5 bytes undefined; latin-1 maps them rather than failing.
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:
            return data.decode("latin-1")


def extract_txt(data: bytes) -> ExtractedDocument:
    """Plain text: one block per paragraph (blank-line separated)."""
    blocks = [Block(text, None, (), "text") for text in paragraphs(normalise(decode(data)))]
    return ExtractedDocument("txt", blocks, 1, None, 0)


def extract_csv(data: bytes) -> ExtractedDocument:
    """A CSV file as one table, delimiter and encoding guessed from the content."""
    text = decode(data)
    sample = text[:CSV_SNIFF_CHARS]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, CSV_DELIMITERS)
    except csv.Error:
        # No consistent delimiter in the sample: French spreadsheets export ';'.
        dialect = csv.excel
        counts = {d: sample.count(d) for d in CSV_DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        if counts[best]:
            dialect = _dialect_with(best)
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        rows = [table_row(row) for row in reader]
    except csv.Error:
        rows = [table_row(line.split(dialect.delimiter)) for line in text.splitlines()]
    return ExtractedDocument("csv", table_blocks(rows, None, ()), 1, None, 0)


def _dialect_with(delimiter: str) -> type[csv.Dialect]:
    class Guessed(csv.excel):
        pass

    Guessed.delimiter = delimiter
    return Guessed


def _inline_text(token: Token) -> str:
    """Plain text of an inline token: emphasis and link markup dropped, image alt kept."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline", "html_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(child.content)
    return inline("".join(parts))


class _MarkdownWalker:
    """Turns markdown-it tokens into blocks, following the heading path."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.path = HeadingPath()
        self.title: str | None = None
        self.heading_level = 0
        self.list_depth = 0
        self.row: list[str] | None = None
        self.rows: list[str] = []

    def walk(self, tokens: list[Token]) -> None:
        for token in tokens:
            self._token(token)

    def _token(self, token: Token) -> None:  # noqa: C901 - one branch per token type
        kind = token.type
        if kind == "heading_open":
            self.heading_level = int(token.tag[1:])
        elif kind == "heading_close":
            self.heading_level = 0
        elif kind in ("bullet_list_open", "ordered_list_open"):
            self.list_depth += 1
        elif kind in ("bullet_list_close", "ordered_list_close"):
            self.list_depth -= 1
        elif kind == "tr_open":
            self.row = []
        elif kind == "tr_close" and self.row is not None:
            self.rows.append(table_row(self.row))
            self.row = None
        elif kind == "table_close":
            self.blocks.extend(table_blocks(self.rows, None, self.path.current))
            self.rows = []
        elif kind == "inline":
            self._inline(token)
        elif kind in ("fence", "code_block"):
            self._text(normalise(token.content))
        elif kind == "html_block":
            self._text(normalise(_TAG.sub(" ", token.content)))

    def _inline(self, token: Token) -> None:
        text = _inline_text(token)
        if self.row is not None:
            self.row.append(text)
        elif self.heading_level and text:
            headings = self.path.enter(self.heading_level, text)
            if self.title is None and self.heading_level == 1:
                self.title = text
            self.blocks.append(Block(text, None, headings, "heading"))
        elif self.list_depth and text:
            self._text("- " + text)
        else:
            self._text(text)

    def _text(self, text: str) -> None:
        if text:
            self.blocks.append(Block(text, None, self.path.current, "text"))


def markdown_blocks(source: str) -> tuple[list[Block], str | None]:
    """Blocks and first H1 of a Markdown text (ATX and Setext headings, pipe tables)."""
    parser = MarkdownIt("commonmark").enable("table")
    walker = _MarkdownWalker()
    walker.walk(parser.parse(source))
    return walker.blocks, walker.title


def extract_markdown(data: bytes) -> ExtractedDocument:
    """A Markdown file: headings drive the heading path, tables become table blocks."""
    blocks, title = markdown_blocks(decode(data))
    return ExtractedDocument("md", blocks, 1, title, 0)
