"""Reranking answers in one shape, whatever the replica speaks.

vLLM, Infinity and Jina answer `{"results": [{"index", "relevance_score"}]}` (the Cohere
shape Albert follows); Hugging Face TEI answers a bare list of `{"index", "score"}`. Clients
get the first shape, best first, cut to `top_n`.
"""

from __future__ import annotations

from typing import Any

import orjson

from autan.llm.errors import UpstreamFailed


def _unreadable() -> UpstreamFailed:
    return UpstreamFailed("The reranking model gave an answer that cannot be read.")


def _items(payload: Any) -> list[Any]:
    if isinstance(payload, dict):
        payload = payload.get("results", payload.get("data"))
    if not isinstance(payload, list):
        raise _unreadable()
    return payload


def rerank_answer(
    body: bytes, *, model: str, documents: int, top_n: int | None, prompt_tokens: int
) -> dict[str, Any]:
    """The answer to the client, from a replica's answer to `documents` documents."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _unreadable() from exc
    upstream = payload if isinstance(payload, dict) else {}
    usage = upstream.get("usage")
    return {
        "id": upstream.get("id"),
        "object": "list",
        "model": model,
        "results": rerank_results(payload, documents, top_n),
        "usage": usage
        if isinstance(usage, dict)
        else {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


def rerank_results(payload: Any, documents: int, top_n: int | None) -> list[dict[str, Any]]:
    """`[{"index", "relevance_score"}]`, best first, from a replica's decoded answer."""
    results: list[dict[str, Any]] = []
    for item in _items(payload):
        if not isinstance(item, dict):
            raise _unreadable()
        index, score = item.get("index"), item.get("relevance_score", item.get("score"))
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < documents:
            raise _unreadable()
        if not isinstance(score, int | float) or isinstance(score, bool):
            raise _unreadable()
        results.append({"index": index, "relevance_score": float(score)})
    results.sort(key=lambda result: result["relevance_score"], reverse=True)
    return results[:top_n] if top_n is not None else results
