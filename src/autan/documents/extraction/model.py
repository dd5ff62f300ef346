"""What extraction produces: blocks of normalised text with their page and heading path."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal

from autan.documents.extraction.errors import TooMuchText

BlockKind = Literal["text", "heading", "table"]


@dataclass(frozen=True, slots=True)
class Block:
    """One paragraph, heading, table (or part of a table) of a document."""

    text: str
    # 1-based page (PDF), slide (pptx/odp) or sheet index (xlsx/ods); None for flat text.
    page: int | None
    # Heading path in force, e.g. ("2. Procédure", "2.1 Délais"); a heading block's path
    # ends with the heading itself. Sheet and slide titles count as headings.
    headings: tuple[str, ...]
    kind: BlockKind

    def __post_init__(self) -> None:
        # Every block is counted against the running extraction's budget as it is made
        # (table rows are counted one by one as they are read, in tables.table_blocks).
        if self.kind != "table":
            charge(len(self.text))


@dataclass(frozen=True, slots=True)
class ExtractedDocument:
    """The text of a whole document, in reading order."""

    format: str
    blocks: list[Block]
    pages: int  # pages / slides / sheets (1 for flat text)
    title: str | None  # from metadata or the first top-level heading, else None
    ocr_pages: int  # how many pages went through OCR


@dataclass(frozen=True, slots=True)
class ExtractionLimits:
    """Bounds on one extraction; the defaults suit an interactive upload."""

    max_pages: int = 2000
    ocr: bool = True
    ocr_languages: str = "fra+eng"
    ocr_dpi: int = 200
    ocr_timeout: float = 60.0  # seconds per page
    # A page rendered for OCR never exceeds this bitmap (DPI lowered to fit): 25 MP is an A3
    # page at 200 dpi, 25 MB in grey.
    ocr_max_pixels: int = 25_000_000
    # Pages larger than this (in square points) are not rendered for OCR at all: 4 x A0.
    # PDF allows 14,400 pt sides (200 x 200 inches); such a page is no scan.
    ocr_max_page_area: float = 4 * 2384 * 3370
    # Characters of text per document, counted while it is read (cells of a sheet count
    # at least one each, so that a sheet of empty padded cells is bounded too).
    max_characters: int = 5_000_000
    # Bytes a ZIP-based document (OOXML, OpenDocument) may really unpack to, whatever its
    # headers declare.
    max_unpacked_bytes: int = 100 * 1024 * 1024


class HeadingPath:
    """The heading path in force while reading a document, kept by heading level."""

    __slots__ = ("_levels",)

    def __init__(self) -> None:
        self._levels: list[tuple[int, str]] = []

    @property
    def current(self) -> tuple[str, ...]:
        """Headings in force, outermost first."""
        return tuple(text for _, text in self._levels)

    def enter(self, level: int, text: str) -> tuple[str, ...]:
        """Open a heading of `level` (1 = top), closing those at the same or deeper levels."""
        while self._levels and self._levels[-1][0] >= level:
            self._levels.pop()
        self._levels.append((level, text))
        return self.current

    def reset(self, *headings: str) -> tuple[str, ...]:
        """Start over with `headings` as levels 1, 2, ... (a new slide or sheet)."""
        self._levels = [(index + 1, text) for index, text in enumerate(headings) if text]
        return self.current


class TextBudget:
    """Characters still allowed for the document being read; raises once they are spent."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, characters: int) -> None:
        """Count `characters` more; TooMuchText when the document goes over its limit."""
        self.used += characters
        if self.used > self.limit:
            raise TooMuchText(self.limit)

    def ensure(self, characters: int) -> None:
        """Raise TooMuchText if `characters` more would go over the limit (not counted)."""
        if self.used + characters > self.limit:
            raise TooMuchText(self.limit)


# The budget of the extraction running in this thread (extraction runs in worker threads,
# each with its own context): extractors deep in a format charge it without threading it
# through every function.
_BUDGET: ContextVar[TextBudget | None] = ContextVar("extraction_budget", default=None)


@contextlib.contextmanager
def text_budget(limit: int) -> Iterator[TextBudget]:
    """Make a budget of `limit` characters the one `charge` counts against, for this block."""
    budget = TextBudget(limit)
    token = _BUDGET.set(budget)
    try:
        yield budget
    finally:
        _BUDGET.reset(token)


def charge(characters: int) -> None:
    """Count characters read against the running extraction's budget (if there is one)."""
    budget = _BUDGET.get()
    if budget is not None:
        budget.take(characters)


def ensure(characters: int) -> None:
    """Refuse, before building it, text that would go over the running extraction's budget."""
    budget = _BUDGET.get()
    if budget is not None:
        budget.ensure(characters)
