"""An in-process OpenAI-protocol upstream that answers with the request it received.

It lets a test see exactly what the gateway forwarded (fields, model name, headers).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
from aiohttp import web


def _completion(body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    echo = orjson.dumps({"body": body, "authorization": headers.get("Authorization")}).decode()
    return {
        "id": "chatcmpl-echo",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model"),
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": echo}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8},
    }


async def _chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    if body.get("echo_status"):
        error = {"error": {"message": "refused by upstream", "type": "invalid_request_error"}}
        return web.json_response(error, status=int(body["echo_status"]))
    completion = _completion(body, dict(request.headers))
    if not body.get("stream"):
        return web.json_response(completion)
    # Streamed: the same echo as one delta, as an OpenAI server sends it.
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    text = completion["choices"][0]["message"]["content"]
    chunk = {
        "id": "chatcmpl-echo",
        "object": "chat.completion.chunk",
        "model": body.get("model"),
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": "stop"}],
    }
    await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


async def _models(_request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": []})


@contextlib.asynccontextmanager
async def echo_upstream() -> AsyncIterator[str]:
    """Serve the echo upstream on a free loopback port; yields its `/v1` base URL."""
    app = web.Application()
    app.router.add_post("/v1/chat/completions", _chat)
    app.router.add_get("/v1/models", _models)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/v1"
    finally:
        await runner.cleanup()
