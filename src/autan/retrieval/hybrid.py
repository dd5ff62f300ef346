"""Reciprocal rank fusion: one ranking from several, by rank rather than by raw score.

BM25 scores and cosines live on unrelated scales; RRF (Cormack et al., 2009) sums
weight / (k + rank) over the rankings a chunk appears in, which needs no calibration.
"""

from __future__ import annotations

from collections.abc import Sequence


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]],
    *,
    k: int = 60,
    weights: Sequence[float] | None = None,
) -> list[tuple[int, float]]:
    """Chunk ids by fused score, best first: sum of weight / (k + rank), ranks from 1."""
    weights = weights if weights is not None else [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, chunk_id in enumerate(ranking, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / (k + rank)
    # Ties (same fused score) keep the order of first appearance, hence a stable sort.
    return sorted(scores.items(), key=lambda item: -item[1])
