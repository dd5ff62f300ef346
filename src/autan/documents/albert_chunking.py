"""Albert's chunking options of an upload: sizes in characters, separators, or no split.

Without options a document goes through Autan's structure-aware chunker (chunking.py).
With Albert's (`chunk_size`, `chunk_overlap`, `chunk_min_size`, `separators`,
`is_separator_regex`, `disable_chunking`), each page's text is split the way Albert's
recursive character splitter does: on the first separator that occurs, then on the next
ones for pieces still too long, and pieces are packed up to `chunk_size` characters with
`chunk_overlap` characters repeated from the end of the previous chunk.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from autan.core.errors import InvalidRequest
from autan.documents.chunking import ChunkDraft, count_tokens
from autan.documents.extraction.errors import TooManyPassages
from autan.documents.extraction.model import ExtractedDocument

DEFAULT_SEPARATORS = ("\n\n", "\n", ". ", " ", "")
MIN_CHUNK_CHARS = 64
# e5 reads 512 tokens: about 2,000 characters of French; more would be cut when embedded.
MAX_CHUNK_CHARS = 4000
MAX_SEPARATORS = 20
MAX_SEPARATOR_CHARS = 32
# A document kept whole (disable_chunking) is still one passage of bounded size.
MAX_WHOLE_CHARS = 100_000


@dataclass(frozen=True)
class ChunkingOptions:
    """Albert's chunking options, checked."""

    chunk_size: int = 2048
    chunk_overlap: int = 0
    chunk_min_size: int = 0
    separators: tuple[str, ...] = DEFAULT_SEPARATORS
    is_separator_regex: bool = False
    disable_chunking: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """What the document row keeps for the worker."""
        return {
            "chunk_size": self.chunk_size,
            "chunk_overlap": self.chunk_overlap,
            "chunk_min_size": self.chunk_min_size,
            "separators": list(self.separators),
            "is_separator_regex": self.is_separator_regex,
            "disable_chunking": self.disable_chunking,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> ChunkingOptions:
        """The options a document row kept."""
        return cls(
            chunk_size=int(value["chunk_size"]),
            chunk_overlap=int(value["chunk_overlap"]),
            chunk_min_size=int(value["chunk_min_size"]),
            separators=tuple(value["separators"]),
            is_separator_regex=bool(value["is_separator_regex"]),
            disable_chunking=bool(value["disable_chunking"]),
        )


def _integer(form: dict[str, str], name: str, default: int) -> int:
    raw = form.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw.strip())
    except ValueError:
        raise InvalidRequest(
            "`{name}` must be a whole number.", param=name, values={"name": name}
        ) from None


def _boolean(form: dict[str, str], name: str) -> bool:
    raw = (form.get(name) or "false").strip().lower()
    if raw in ("true", "1", "yes", "on"):
        return True
    if raw in ("false", "0", "no", "off", ""):
        return False
    raise InvalidRequest("`{name}` must be true or false.", param=name, values={"name": name})


OPTION_NAMES = (
    "chunk_size",
    "chunk_overlap",
    "chunk_min_size",
    "separators",
    "is_separator_regex",
    "disable_chunking",
)


def parse_options(form: dict[str, str], separators: Sequence[str]) -> ChunkingOptions | None:
    """Albert's chunking options from an upload form, or None when none was given."""
    if not any(name in form for name in OPTION_NAMES) and not separators:
        return None
    size = _integer(form, "chunk_size", 2048)
    if not MIN_CHUNK_CHARS <= size <= MAX_CHUNK_CHARS:
        raise InvalidRequest(
            "`chunk_size` must be between {low} and {high} characters.",
            param="chunk_size",
            values={"low": MIN_CHUNK_CHARS, "high": MAX_CHUNK_CHARS},
        )
    overlap = _integer(form, "chunk_overlap", 0)
    if not 0 <= overlap <= size // 2:
        raise InvalidRequest(
            "`chunk_overlap` must be between 0 and half of `chunk_size` ({high}).",
            param="chunk_overlap",
            values={"high": size // 2},
        )
    minimum = _integer(form, "chunk_min_size", 0)
    if not 0 <= minimum <= size:
        raise InvalidRequest(
            "`chunk_min_size` must be between 0 and `chunk_size` ({high}).",
            param="chunk_min_size",
            values={"high": size},
        )
    regex = _boolean(form, "is_separator_regex")
    return ChunkingOptions(
        chunk_size=size,
        chunk_overlap=overlap,
        chunk_min_size=minimum,
        separators=_separators(separators, regex),
        is_separator_regex=regex,
        disable_chunking=_boolean(form, "disable_chunking"),
    )


def _separators(given: Sequence[str], regex: bool) -> tuple[str, ...]:
    if not given:
        return DEFAULT_SEPARATORS
    if len(given) > MAX_SEPARATORS or any(len(sep) > MAX_SEPARATOR_CHARS for sep in given):
        raise InvalidRequest(
            "Give at most {count} `separators` of at most {chars} characters each.",
            param="separators",
            values={"count": MAX_SEPARATORS, "chars": MAX_SEPARATOR_CHARS},
        )
    if regex:
        for separator in given:
            try:
                re.compile(separator)
            except re.error:
                raise InvalidRequest(
                    "The separator {separator} is not a valid regular expression.",
                    param="separators",
                    values={"separator": separator},
                ) from None
    return tuple(given)


def _split(text: str, separators: Sequence[str], regex: bool, size: int) -> list[str]:
    """Pieces of at most `size` characters, cut on the first separator that helps."""
    if len(text) <= size:
        return [text]
    for index, separator in enumerate(separators):
        if separator == "":
            return [text[i : i + size] for i in range(0, len(text), size)]
        pattern = separator if regex else re.escape(separator)
        parts = [part for part in re.split(f"({pattern})", text) if part]
        if len(parts) == 1:
            continue
        # Keep each separator at the end of the piece before it.
        joined: list[str] = []
        for part in parts:
            if joined and re.fullmatch(pattern, part):
                joined[-1] += part
            else:
                joined.append(part)
        pieces: list[str] = []
        for part in joined:
            pieces.extend(_split(part, separators[index + 1 :], regex, size))
        return pieces
    return [text[i : i + size] for i in range(0, len(text), size)]


def _pack(pieces: Sequence[str], options: ChunkingOptions) -> list[str]:
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + len(piece) > options.chunk_size:
            chunks.append(current)
            tail = current[-options.chunk_overlap :] if options.chunk_overlap else ""
            current = tail if len(tail) + len(piece) <= options.chunk_size else ""
        current += piece
    if current.strip():
        chunks.append(current)
    return [c.strip() for c in chunks if len(c.strip()) >= max(1, options.chunk_min_size)]


def chunk_with_options(
    document: ExtractedDocument, options: ChunkingOptions, max_passages: int | None = None
) -> list[ChunkDraft]:
    """Cut a document as Albert's options say, page by page, in order."""
    pages: dict[int | None, list[str]] = {}
    for block in document.blocks:
        pages.setdefault(block.page, []).append(block.text)
    texts = [(page, "\n\n".join(parts)) for page, parts in pages.items()]
    if options.disable_chunking:
        whole = "\n\n".join(text for _, text in texts).strip()[:MAX_WHOLE_CHARS]
        numbers = tuple(page for page, _ in texts if page is not None)
        first = numbers[0] if numbers else None
        return [ChunkDraft(whole, first, numbers, (), 0, count_tokens(whole))] if whole else []
    drafts: list[ChunkDraft] = []
    for page, text in texts:
        pieces = _split(text, options.separators, options.is_separator_regex, options.chunk_size)
        for passage in _pack(pieces, options):
            if max_passages is not None and len(drafts) >= max_passages:
                raise TooManyPassages(max_passages)
            pages_of = (page,) if page is not None else ()
            drafts.append(
                ChunkDraft(passage, page, pages_of, (), len(drafts), count_tokens(passage))
            )
    return drafts
