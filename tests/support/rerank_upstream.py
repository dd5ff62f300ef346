"""A reranker on loopback speaking the `/v1/rerank` protocol of vLLM, Infinity and Cohere.

It scores a document by the share of the query's words it contains, so tests know the
order to expect; it records the bodies it received.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeReranker:
    """Where it listens, what it was sent, and what to answer instead (a broken answer)."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    broken: bool = False


def _score(query: str, document: str) -> float:
    words = set(query.lower().split())
    return len(words & set(document.lower().split())) / max(1, len(words))


@contextlib.asynccontextmanager
async def fake_reranker() -> AsyncIterator[FakeReranker]:
    """Serve the reranker on a free loopback port; `url` is its `/v1` base URL."""
    state = FakeReranker()

    async def rerank(request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("query") != "ok":  # not the gateway's health probe
            state.received.append(body)
        if state.broken:
            return web.json_response({"results": [{"index": 99, "relevance_score": 1.0}]})
        documents: list[str] = body["documents"]
        scored = sorted(
            ((_score(body["query"], text), i) for i, text in enumerate(documents)), reverse=True
        )
        results: list[dict[str, Any]] = [
            {"index": i, "relevance_score": score, "document": {"text": documents[i]}}
            for score, i in scored
        ]
        if body.get("top_n"):
            results = results[: body["top_n"]]
        tokens = sum(len(text.split()) for text in documents) + len(body["query"].split())
        return web.json_response(
            {
                "id": "rerank-fake",
                "model": body["model"],
                "results": results,
                "usage": {"total_tokens": tokens},
            }
        )

    app = web.Application()
    app.router.add_post("/v1/rerank", rerank)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    state.url = f"http://{host}:{port}/v1"
    try:
        yield state
    finally:
        await runner.cleanup()
