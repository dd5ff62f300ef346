"""The answer benchmark's scores, kept in the package so that `autan bench answers` (an
institution's own cases) scores exactly as the benchmark does."""

from autan.bench.scoring import (
    LEAK_MARKERS,
    abstains,
    contains_gold,
    leaks_prompt,
    normalise,
    strip_accents,
    token_f1,
)

__all__ = [
    "LEAK_MARKERS",
    "abstains",
    "contains_gold",
    "leaks_prompt",
    "normalise",
    "strip_accents",
    "token_f1",
]
