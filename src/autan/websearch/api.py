"""Web search in the OpenAI shape: `search_results` items and `url_citation` annotations."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import orjson

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


async def with_stream_citations(
    relay: AsyncGenerator[bytes, None], sources: Sequence[dict[str, Any]]
) -> AsyncGenerator[bytes, None]:
    """The model's SSE events, then, before `[DONE]`, one chunk per choice whose `delta`
    carries the `url_citation` annotations of the whole answer (offsets into the content
    streamed for that choice)."""
    texts: dict[int, str] = {}
    last: dict[str, Any] = {}
    pending = b""
    try:
        async for chunk in relay:
            pending += chunk
            events, _, pending = pending.rpartition(b"\n\n")
            if not events:
                continue
            head, done, _tail = (events + b"\n\n").partition(b"data: [DONE]")
            _collect(head, texts, last)
            if done:
                yield head + _annotation_events(texts, last, sources)
                yield done + _tail
                texts.clear()
            else:
                yield events + b"\n\n"
        if pending.strip():
            _collect(pending, texts, last)
            yield pending
        if texts:
            yield _annotation_events(texts, last, sources)
    finally:
        await relay.aclose()


def _collect(events: bytes, texts: dict[int, str], last: dict[str, Any]) -> None:
    for line in events.split(b"\n"):
        if not line.startswith(b"data: {"):
            continue
        try:
            data = orjson.loads(line[6:])
        except orjson.JSONDecodeError:
            continue
        if not isinstance(data, dict):
            continue
        last.update({k: data[k] for k in ("id", "created", "model") if k in data})
        for choice in data.get("choices") or ():
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                index = int(choice.get("index") or 0)
                texts[index] = texts.get(index, "") + delta["content"]


def _annotation_events(
    texts: dict[int, str], last: dict[str, Any], sources: Sequence[dict[str, Any]]
) -> bytes:
    out = b""
    for index, text in sorted(texts.items()):
        annotations = url_citations(text, sources)
        if not annotations:
            continue
        chunk = {
            **last,
            "object": "chat.completion.chunk",
            "choices": [
                {"index": index, "delta": {"annotations": annotations}, "finish_reason": None}
            ],
        }
        out += b"data: " + orjson.dumps(chunk) + b"\n\n"
    return out
