"""Markdown read once into blocks (headings, paragraphs, list items, tables, quotes, code).

Every writer (DOCX, ODT, a Docs document's Markdown) works from these blocks, so a heading,
a list or a link is understood the same way whatever the format. markdown-it-py (CommonMark
plus GFM tables) does the parsing; this module only flattens its token stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from markdown_it import MarkdownIt
from markdown_it.token import Token

BlockKind = Literal["heading", "paragraph", "item", "table", "quote", "code"]


@dataclass(frozen=True)
class Span:
    """A run of text with its emphasis and, for a link, its address."""

    text: str
    bold: bool = False
    italic: bool = False
    href: str | None = None
    code: bool = False


@dataclass
class Block:
    """One block of the document; `level` is a heading's level or a list item's depth."""

    kind: BlockKind
    spans: list[Span] = field(default_factory=list)
    level: int = 0
    ordered: bool = False
    number: int = 0
    rows: list[list[list[Span]]] = field(default_factory=list)
    header_rows: int = 0

    @property
    def text(self) -> str:
        """The block's plain text (a table's cells joined by tabs and lines)."""
        if self.kind == "table":
            return "\n".join("\t".join(plain(cell) for cell in row) for row in self.rows)
        return plain(self.spans)


def plain(spans: list[Span]) -> str:
    """The text of spans, without emphasis or addresses."""
    return "".join(span.text for span in spans)


_PARSER = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def _spans(token: Token) -> list[Span]:
    bold = italic = False
    href: str | None = None
    spans: list[Span] = []
    for child in token.children or []:
        if child.type == "strong_open":
            bold = True
        elif child.type == "strong_close":
            bold = False
        elif child.type == "em_open":
            italic = True
        elif child.type == "em_close":
            italic = False
        elif child.type == "link_open":
            href = str(child.attrGet("href") or "") or None
        elif child.type == "link_close":
            href = None
        elif child.type in ("text", "html_inline"):
            if child.content:
                spans.append(Span(child.content, bold, italic, href))
        elif child.type == "code_inline":
            spans.append(Span(child.content, bold, italic, href, code=True))
        elif child.type in ("softbreak", "hardbreak"):
            spans.append(Span(" " if child.type == "softbreak" else "\n", bold, italic, href))
        elif child.type == "image":
            spans.append(Span(child.content or str(child.attrGet("alt") or ""), bold, italic))
    return spans


class _Reader:
    """Walks markdown-it's flat token stream, keeping which list, quote or table is open."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.lists: list[list[int]] = []  # per open list: [ordered, next number]
        self.quote = 0
        self.table: Block | None = None
        self.row: list[list[Span]] | None = None
        self.in_head = False
        self.heading = 0

    def structure(self, token: Token) -> None:
        kind = token.type
        if kind in ("bullet_list_open", "ordered_list_open"):
            start = int(token.attrGet("start") or 1)
            self.lists.append([int(kind == "ordered_list_open"), start])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            self.lists.pop()
        elif kind == "list_item_open" and self.lists:
            ordered, number = self.lists[-1]
            self.blocks.append(
                Block("item", level=len(self.lists), ordered=bool(ordered), number=number)
            )
            self.lists[-1][1] += 1
        elif kind in ("blockquote_open", "blockquote_close"):
            self.quote += 1 if kind.endswith("open") else -1
        elif kind in ("heading_open", "heading_close"):
            self.heading = int(token.tag[1]) if kind.endswith("open") else 0

    def tables(self, token: Token) -> None:
        kind = token.type
        if kind == "table_open":
            self.table = Block("table")
        elif kind == "table_close" and self.table is not None:
            self.blocks.append(self.table)
            self.table = None
        elif kind in ("thead_open", "thead_close"):
            self.in_head = kind.endswith("open")
        elif kind == "tr_open":
            self.row = []
        elif kind == "tr_close" and self.table is not None and self.row is not None:
            self.table.rows.append(self.row)
            self.table.header_rows += int(self.in_head)
            self.row = None

    def inline(self, token: Token) -> None:
        spans = _spans(token)
        last = self.blocks[-1] if self.blocks else None
        if self.row is not None:
            self.row.append(spans)
        elif self.heading:
            self.blocks.append(Block("heading", spans, level=self.heading))
        elif self.lists and last is not None and last.kind == "item":
            if not last.spans:
                last.spans = spans
            else:  # a second paragraph of a list item: a new line at the same depth
                self.blocks.append(Block("item", spans, level=last.level))
        else:
            self.blocks.append(Block("quote" if self.quote else "paragraph", spans))


def parse(markdown: str) -> list[Block]:
    """The blocks of a Markdown text, in order."""
    reader = _Reader()
    for token in _PARSER.parse(markdown):
        if token.type == "inline":
            reader.inline(token)
        elif token.type in ("fence", "code_block"):
            reader.blocks.append(Block("code", [Span(token.content.rstrip("\n"), code=True)]))
        elif token.type.startswith(("t", "th")) and token.type.split("_")[0] in (
            "table",
            "thead",
            "tbody",
            "tr",
            "th",
            "td",
        ):
            reader.tables(token)
        else:
            reader.structure(token)
    return reader.blocks


def inline_markdown(spans: list[Span]) -> str:
    """Spans written as inline Markdown (emphasis, code, links)."""
    out: list[str] = []
    for span in spans:
        text = f"`{span.text}`" if span.code else span.text
        if span.bold:
            text = f"**{text}**"
        if span.italic:
            text = f"*{text}*"
        if span.href:
            text = f"[{text}]({span.href})"
        out.append(text)
    return "".join(out)


def to_markdown(blocks: list[Block], raw: bool = False) -> str:
    """Blocks written back as Markdown (used after translating their text); with `raw`,
    span texts are already inline Markdown and are written as they are."""

    def _inline(spans: list[Span]) -> str:
        return plain(spans) if raw else inline_markdown(spans)

    lines: list[str] = []
    previous: BlockKind | None = None
    for block in blocks:
        if previous is not None and not (block.kind == "item" and previous == "item"):
            lines.append("")
        previous = block.kind
        if block.kind == "heading":
            lines.append(f"{'#' * block.level} {_inline(block.spans)}")
        elif block.kind == "item":
            marker = f"{block.number}." if block.ordered else "-"
            lines.append(f"{'   ' * (block.level - 1)}{marker} {_inline(block.spans)}")
        elif block.kind == "table":
            for index, cells in enumerate(block.rows):
                lines.append("| " + " | ".join(_inline(c) for c in cells) + " |")
                if index == 0:
                    lines.append("|" + "---|" * len(cells))
        elif block.kind == "quote":
            lines.append(f"> {_inline(block.spans)}")
        elif block.kind == "code":
            lines += ["```", plain(block.spans), "```"]
        else:
            lines.append(_inline(block.spans))
    return "\n".join(lines) + "\n"
