"""Web search in the OpenAI shape: `search_results` items and `url_citation` annotations."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from autan.websearch.service import WebFindings

_MARKER = re.compile(r"\[(\d{1,3})\]")


def web_results(findings: WebFindings) -> list[dict[str, Any]]:
    """The pages read, as items of a chat completion's `search_results`."""
    return [source.as_search_result() for source in findings.sources]


def url_citations(text: str, sources: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI `url_citation` annotations for the [n] markers of an answer that name a web
    source (character offsets of the marker in the answer)."""
    by_number = {int(s["number"]): s for s in sources if s.get("kind") == "web"}
    annotations: list[dict[str, Any]] = []
    for match in _MARKER.finditer(text):
        source = by_number.get(int(match.group(1)))
        if source is None:
            continue
        annotations.append(
            {
                "type": "url_citation",
                "url_citation": {
                    "start_index": match.start(),
                    "end_index": match.end(),
                    "url": source["url"],
                    "title": source["title"],
                },
            }
        )
    return annotations
