"""Keep the hidden instructions out of an answer, even when a model recites them.

Small models sometimes begin an answer by repeating their system message (the standing
instruction, the grounding rules, an assistant's instructions). The guard watches the
streamed text for any sentence of those instructions and drops it; it holds back only the
few characters that could be the start of such a sentence, so the answer still streams.
"""

from __future__ import annotations

import re
from collections import defaultdict

# Shorter sentences ("Today is ...") are harmless and too likely in a genuine answer.
MIN_SENTENCE = 24
_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")


class LeakGuard:
    """A filter over an answer's stream: `feed` each piece, then `flush` at the end."""

    def __init__(self, hidden: str) -> None:
        sentences = {s.strip() for s in _SPLIT.split(hidden) if len(s.strip()) >= MIN_SENTENCE}
        # Longest first: a sentence that contains another is removed whole.
        self._sentences = sorted(sentences, key=len, reverse=True)
        # For each sentence, the lengths of its prefixes ending with a given character: the
        # only places where the text seen so far may stop in the middle of that sentence.
        self._prefix_ends: list[dict[str, list[int]]] = []
        for sentence in self._sentences:
            ends: dict[str, list[int]] = defaultdict(list)
            for length in range(len(sentence) - 1, 0, -1):
                ends[sentence[length - 1]].append(length)
            self._prefix_ends.append(ends)
        self._pending = ""
        self.removed = 0

    def feed(self, text: str) -> str:
        """The part of the answer that can be shown now."""
        if not self._sentences:
            return text
        pending = self._pending + text
        for sentence in self._sentences:
            if sentence in pending:
                self.removed += pending.count(sentence)
                pending = pending.replace(sentence, "")
        hold = self._held_back(pending)
        self._pending = pending[len(pending) - hold :] if hold else ""
        return pending[: len(pending) - hold]

    def flush(self) -> str:
        """What was held back, once the answer has ended (it was not an instruction)."""
        rest, self._pending = self._pending, ""
        return rest

    def _held_back(self, pending: str) -> int:
        """The length of the longest end of `pending` that begins a hidden sentence."""
        if not pending:
            return 0
        last, hold = pending[-1], 0
        for sentence, ends in zip(self._sentences, self._prefix_ends, strict=True):
            for length in ends.get(last, ()):  # longest first
                if length <= hold:
                    break
                if length <= len(pending) and pending.endswith(sentence[:length]):
                    hold = length
                    break
        return hold
