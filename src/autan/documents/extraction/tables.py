"""Tables as blocks: rows as ``A | B | C`` lines, long tables cut with their header repeated."""

from __future__ import annotations

from collections.abc import Iterable

from autan.documents.extraction.model import Block, charge

# Rows per block: bounds the size of one block for huge sheets; the chunker cuts further
# by rows (again repeating the header) to fit its token budget.
ROWS_PER_BLOCK = 200


def table_blocks(
    rows: Iterable[str],
    page: int | None,
    headings: tuple[str, ...],
    rows_per_block: int = ROWS_PER_BLOCK,
) -> list[Block]:
    """Blocks of a table whose first non-empty row is its header."""
    blocks: list[Block] = []
    header: str | None = None
    batch: list[str] = []
    for row in rows:
        if not row:
            continue
        # Counted as rows come, so that a sheet of repeated cells stops being read (rows are
        # produced lazily) as soon as it goes over the document's budget.
        charge(len(row) + 1)
        if header is None:
            header = row
            continue
        batch.append(row)
        if len(batch) == rows_per_block:
            blocks.append(Block("\n".join([header, *batch]), page, headings, "table"))
            batch = []
    if header is not None and (batch or not blocks):
        blocks.append(Block("\n".join([header, *batch]), page, headings, "table"))
    return blocks
