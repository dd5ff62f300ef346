"""HTML pages: the main content's headings, paragraphs, lists and tables; no scripts or menus."""

from __future__ import annotations

import re
from typing import Any

import lxml.html
from lxml import etree

from autan.documents.extraction.errors import BrokenFile
from autan.documents.extraction.model import Block, ExtractedDocument, HeadingPath, ensure
from autan.documents.extraction.normalise import inline, metadata_title, table_row
from autan.documents.extraction.tables import table_blocks
from autan.documents.extraction.text import decode

# Never content: code, styling, navigation, page furniture and form controls.
_DROPPED = (
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "footer",
    "aside",
    "form",
    "iframe",
    "svg",
    "button",
    "select",
    "textarea",
    "head",
)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
# A start tag, quoted values included (possessive: linear whatever the input).
_TAG = re.compile(r"""<[A-Za-z](?:[^>"']++|"[^"]*+"|'[^']*+')*+>""")
_ASSIGNMENT = re.compile(r"""[\s"'][^\s"'=<>/]+\s*=""")
_LONG_TAG = 8_000  # characters: a tag shorter than this cannot hold MAX_ATTRIBUTES
MAX_ATTRIBUTES = 2000
_DROPPED_ROLES = {"navigation", "banner", "contentinfo", "search", "menu", "menubar"}
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
# Elements that end the paragraph in progress; everything else is inline.
_BLOCK_TAGS = {
    "p", "div", "section", "article", "main", "header", "li", "ul", "ol", "dl", "dt", "dd",
    "blockquote", "pre", "figure", "figcaption", "address", "table", "hr", "br", "details",
    "summary", "body", "center", "fieldset", "legend", *_HEADINGS,
}  # fmt: skip


class _HtmlWalker:
    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.path = HeadingPath()
        self.buffer: list[str] = []
        self.first_h1: str | None = None

    def flush(self) -> None:
        raw = "".join(self.buffer)
        ensure(len(raw))  # before normalising megabytes of text that will be refused anyway
        text = inline(raw)
        self.buffer = []
        if text:
            self.blocks.append(Block(text, None, self.path.current, "text"))

    def element(self, node: Any) -> None:
        tag = node.tag if isinstance(node.tag, str) else ""
        if tag in _HEADINGS:
            self.flush()
            text = inline(node.text_content())
            if text:
                level = _HEADINGS[tag]
                if level == 1 and self.first_h1 is None:
                    self.first_h1 = text
                self.blocks.append(Block(text, None, self.path.enter(level, text), "heading"))
        elif tag == "table":
            self.flush()
            self.table(node)
        elif tag in _BLOCK_TAGS:
            self.flush()
            if tag == "li":
                self.buffer.append("- ")
            self.children(node)
            self.flush()
        else:
            self.children(node)
        if node.tail:
            self.buffer.append(node.tail)

    def children(self, node: Any) -> None:
        if node.text and isinstance(node.tag, str):
            self.buffer.append(node.text)
        for child in node:
            self.element(child)

    def table(self, node: Any) -> None:
        rows = []
        for row in node.iter("tr"):
            cells = [cell.text_content() for cell in row if cell.tag in ("td", "th")]
            rows.append(table_row(cells))
        self.blocks.extend(table_blocks(rows, None, self.path.current))


def _drop_furniture(root: Any) -> None:
    doomed = [
        node
        for node in root.iter()
        if isinstance(node.tag, str)
        and (node.tag in _DROPPED or node.get("role", "").lower() in _DROPPED_ROLES)
    ]
    for node in doomed:
        # drop_tree keeps the tail text, which belongs to the parent.
        if node.getparent() is not None:
            node.drop_tree()


def _content_root(root: Any) -> Any:
    """The page's main content: <main>, else its only <article>, else the whole <body>."""
    mains = root.xpath("//main")
    if mains:
        return mains[0]
    articles = root.xpath("//article")
    if len(articles) == 1:
        return articles[0]
    body = root.find("body")
    return body if body is not None else root


def _too_many_attributes(text: str) -> bool:
    """An element with thousands of attributes: libxml2 checks each new attribute against
    all the previous ones, so 200,000 of them (2 MB) kept the parser busy for minutes."""
    for match in _TAG.finditer(text):
        if match.end() - match.start() > _LONG_TAG and (
            len(_ASSIGNMENT.findall(match.group())) > MAX_ATTRIBUTES
        ):
            return True
    return False


def _parser() -> lxml.html.HTMLParser:
    # huge_tree: without it libxml2 silently drops a text node or an attribute over 10 MB and
    # everything after it, and the page came out empty ("no text"). Entities are never
    # resolved and nothing is fetched (no_network), whatever a DOCTYPE declares.
    return lxml.html.HTMLParser(huge_tree=True, no_network=True, remove_pis=True)


def extract_html(data: bytes) -> ExtractedDocument:
    """An HTML page: the <main> (or the only <article>) if there is one, else the <body>."""
    # The text is decoded already: an XML declaration naming an encoding (even a bogus one)
    # would make lxml refuse the string.
    text = _XML_DECLARATION.sub("", decode(data), count=1)
    if _too_many_attributes(text):
        raise BrokenFile.too_many_attributes()
    try:
        root = lxml.html.document_fromstring(text, parser=_parser())
    except (etree.ParserError, etree.XMLSyntaxError, ValueError) as exc:
        raise BrokenFile() from exc
    titles = root.xpath("//title")
    title = metadata_title(titles[0].text_content()) if titles else None
    for comment in root.xpath("//comment()"):
        # Comments before or after the root element (or in a DOCTYPE's internal subset)
        # have no parent element to be dropped from; they are not walked anyway.
        if comment.getparent() is not None:
            comment.drop_tree()
    _drop_furniture(root)
    walker = _HtmlWalker()
    walker.element(_content_root(root))
    walker.flush()
    return ExtractedDocument("html", walker.blocks, 1, title or walker.first_h1, 0)
