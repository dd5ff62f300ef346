"""Fusing the lexical and semantic rankings of a question into one.

BM25 scores and cosines live on unrelated scales. Two ways to combine them:
- score fusion (the default): each method's scores are standardised over its own
  candidates (z-scores) and summed with weights; a chunk one method did not propose gets
  that method's lowest standardised score. It keeps how far ahead a result is, which ranks
  alone lose: on the service-public and PIAF benchmarks it beats rank fusion by 1 to 3
  points of hit@1 (benchmarks/results/retrieval.md).
- reciprocal rank fusion (Cormack et al., 2009): sum of weight / (k + rank), no calibration.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from autan.retrieval.settings import RetrievalSettings

Ranking = Sequence[tuple[int, float]]


def fuse(lexical: Ranking, semantic: Ranking, tuning: RetrievalSettings) -> list[tuple[int, float]]:
    """One ranking from the lexical and semantic ones, fused as the settings say."""
    weights = [1.0, tuning.semantic_weight]
    if tuning.fusion == "rank":
        ids = [[chunk_id for chunk_id, _ in lexical], [chunk_id for chunk_id, _ in semantic]]
        return reciprocal_rank_fusion(ids, k=tuning.rrf_k, weights=weights)
    return score_fusion([lexical, semantic], weights=weights)


def score_fusion(
    rankings: Sequence[Ranking], *, weights: Sequence[float] | None = None
) -> list[tuple[int, float]]:
    """Chunk ids by the weighted sum of their standardised scores, best first."""
    weights = _weights(rankings, weights)
    standardised: list[tuple[dict[int, float], float, float]] = []  # z, floor, weight
    for ranking, weight in zip(rankings, weights, strict=True):
        if not ranking:
            continue
        values = [score for _, score in ranking]
        mean = statistics.fmean(values)
        spread = statistics.pstdev(values) or 1.0
        z = {chunk_id: (score - mean) / spread for chunk_id, score in ranking}
        standardised.append((z, min(z.values()), weight))
    order: dict[int, None] = {}  # first appearance, for stable ties
    for z, _, _ in standardised:
        order.update(dict.fromkeys(z))
    fused = {
        chunk_id: sum(w * z.get(chunk_id, floor) for z, floor, w in standardised)
        for chunk_id in order
    }
    return sorted(fused.items(), key=lambda item: -item[1])


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]],
    *,
    k: int = 60,
    weights: Sequence[float] | None = None,
) -> list[tuple[int, float]]:
    """Chunk ids by fused score, best first: sum of weight / (k + rank), ranks from 1."""
    weights = _weights(rankings, weights)
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, chunk_id in enumerate(ranking, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / (k + rank)
    # Ties (same fused score) keep the order of first appearance, hence a stable sort.
    return sorted(scores.items(), key=lambda item: -item[1])


def _weights(rankings: Sequence[object], weights: Sequence[float] | None) -> Sequence[float]:
    weights = weights if weights is not None else [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    return weights
