"""What extraction produces: blocks of normalised text with their page and heading path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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
