"""The second round of a deep-research run: follow-up queries for what the first missed.

What is missing is read off the first round itself, without asking the model (no tokens
spent): the sub-questions no page was read for, and the words of the question that no page
read contains. Each follow-up query is made of those missing words, so that the engine looks
for them rather than for what was already found; its pages are filed under the sub-question
they fill in (the question itself for missing words of the question).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from autan.websearch.passages import terms


def follow_ups(
    plan: Sequence[str], sources: Sequence[dict[str, Any]], count: int
) -> list[tuple[str, str]]:
    """Up to `count` (query, sub-question) pairs for what the first round did not cover."""
    if not plan:
        return []
    covered = set(terms(" ".join(f"{s.get('title', '')} {s.get('excerpt', '')}" for s in sources)))
    answered = {s.get("question") for s in sources}
    wanted: list[tuple[str, str]] = []
    # Unanswered sub-questions first (a whole part of the plan is missing), then the
    # question's own words that no page mentions.
    for sub in [*(q for q in plan if q not in answered), plan[0]]:
        missing = [word for word in terms(sub) if word not in covered]
        query = " ".join(missing[:8])
        if query and all(query != known for known, _ in wanted):
            wanted.append((query, sub))
    return wanted[:count]
