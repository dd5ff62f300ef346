"""Bradley-Terry scores of models from pairwise votes, with 95 % bootstrap intervals.

Scores are on the Elo scale (400 points: ten to one odds), centred on 1000 over the models
compared. A tie or "both bad" counts as half a win for each side, as the LMSYS arena does.
The fit is Hunter's MM algorithm (2004), run for all bootstrap samples at once in NumPy:
resampling the votes is a multinomial draw over the (pair, outcome) cells, so a thousand
samples cost little more than one fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

SCALE = 400.0 / np.log(10.0)  # natural-log strengths to Elo points
CENTRE = 1000.0
# A virtual tie between every pair keeps a model with no win at a finite score; beside the
# hundreds of votes a ranking needs, it moves scores by a few points only.
PRIOR_GAMES = 1.0
MIN_VOTES = 50  # below this many votes the page warns that the ranking is not reliable
ITERATIONS = 200

Array = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Vote:
    """One decisive or drawn comparison: `outcome` is 1 (a won), 0 (b won) or 0.5 (tie)."""

    a: str
    b: str
    outcome: float


@dataclass(frozen=True, slots=True)
class Standing:
    """One model's line of the leaderboard."""

    model: str
    score: float
    low: float
    high: float
    votes: int
    rank: int


def _fit(wins: Array, iterations: int = ITERATIONS) -> Array:
    """Log-strengths (centred) from win matrices `wins[..., i, j]` (i beat j)."""
    games = wins + np.swapaxes(wins, -1, -2)
    total = wins.sum(axis=-1)
    strength = np.ones(wins.shape[:-1])
    for _ in range(iterations):
        pair = strength[..., :, None] + strength[..., None, :]
        denominator = (games / pair).sum(axis=-1)
        strength = total / denominator
        strength /= np.exp(np.log(strength).mean(axis=-1, keepdims=True))
    logs: Array = np.log(strength)
    centred: Array = logs - logs.mean(axis=-1, keepdims=True)
    return centred


def _cells(votes: Sequence[Vote], index: dict[str, int]) -> tuple[Array, Array]:
    """The distinct (winner, loser, weight) cells and how many votes fell in each."""
    counts: dict[tuple[int, int, float], int] = {}
    for vote in votes:
        key = (index[vote.a], index[vote.b], vote.outcome)
        counts[key] = counts.get(key, 0) + 1
    keys = np.array(list(counts), dtype=np.float64).reshape(-1, 3)
    return keys, np.array(list(counts.values()), dtype=np.float64)


def _wins(keys: Array, counts: Array, size: int) -> Array:
    """Win matrices for each row of `counts` (shape samples x cells)."""
    counts = np.atleast_2d(counts)
    wins = np.full((counts.shape[0], size, size), PRIOR_GAMES / 2)
    for i in range(size):
        wins[:, i, i] = 0.0
    a, b, outcome = keys[:, 0].astype(int), keys[:, 1].astype(int), keys[:, 2]
    for cell in range(keys.shape[0]):
        wins[:, a[cell], b[cell]] += counts[:, cell] * outcome[cell]
        wins[:, b[cell], a[cell]] += counts[:, cell] * (1.0 - outcome[cell])
    return wins


def leaderboard(votes: Sequence[Vote], *, samples: int = 1000, seed: int = 0) -> list[Standing]:
    """The models ranked by score, best first, each with its 95 % interval and vote count."""
    models = sorted({v.a for v in votes} | {v.b for v in votes})
    if len(models) < 2:
        return [Standing(m, CENTRE, CENTRE, CENTRE, len(votes), 1) for m in models]
    index = {m: i for i, m in enumerate(models)}
    keys, counts = _cells(votes, index)
    point = _fit(_wins(keys, counts, len(models)))[0]
    rng = np.random.default_rng(seed)
    drawn = rng.multinomial(len(votes), counts / counts.sum(), size=samples).astype(np.float64)
    boot = _fit(_wins(keys, drawn, len(models)))
    low, high = np.percentile(boot, [2.5, 97.5], axis=0)
    played = dict.fromkeys(models, 0)
    for vote in votes:
        played[vote.a] += 1
        played[vote.b] += 1
    order = np.argsort(-point, kind="stable")
    return [
        Standing(
            models[i],
            float(CENTRE + SCALE * point[i]),
            float(CENTRE + SCALE * low[i]),
            float(CENTRE + SCALE * high[i]),
            played[models[i]],
            rank + 1,
        )
        for rank, i in enumerate(order)
    ]


def elo_probability(score_a: float, score_b: float) -> float:
    """The chance that a model scored `score_a` beats one scored `score_b`."""
    return float(1.0 / (1.0 + 10.0 ** ((score_b - score_a) / 400.0)))


def simulate(true_scores: dict[str, float], count: int, rng: np.random.Generator) -> list[Vote]:
    """`count` decisive votes between random pairs of models of known Elo scores."""
    names = list(true_scores)
    votes: list[Vote] = []
    for _ in range(count):
        a, b = rng.choice(len(names), size=2, replace=False)
        p = elo_probability(true_scores[names[a]], true_scores[names[b]])
        votes.append(Vote(names[a], names[b], 1.0 if rng.random() < p else 0.0))
    return votes
