"""How much each word of a question counts, from how many chunks hold it (both engines)."""

from __future__ import annotations

import math
from collections.abc import Sequence

# A word held by more than this share of the chunks is common (see fts5_query). At 100,000
# chunks the bare FTS5 query's p50 went from 52-63 to 21-22 ms; hybrid hit@1 on the benchmarks
# moved by half a point at most (0.852 -> 0.847 service-public, 0.753 -> 0.748 PIAF).
COMMON_SHARE = 0.05


def idf(count: int, total: int) -> float:
    """BM25's inverse document frequency of a word held by `count` of `total` chunks."""
    return math.log(1 + (max(total, count) - count + 0.5) / (count + 0.5))


def common_words(terms: Sequence[str], counts: dict[str, int], total: int) -> frozenset[str]:
    """The terms held by more than COMMON_SHARE of the chunks, which a search keeps out of
    its gate; none when no other term is held by any chunk (the gate would match nothing).

    A count of 0 may be a few minutes old (a document just added): such a word still goes
    into the gate, but cannot open it alone.
    """
    common = frozenset(t for t in terms if counts.get(t, 0) > COMMON_SHARE * total)
    if not any(counts.get(t, 0) > 0 for t in terms if t not in common):
        return frozenset()
    return common
