"""Admission control in front of the whole application (pure ASGI, no per-request task).

Beyond `max_connections` requests in progress, or for a body larger than allowed, the answer
is immediate, so overload is refused fast instead of piling up until clients time out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from autan.core.error_handlers import error_body
from autan.core.errors import PayloadTooLarge


class AdmissionLimits:
    """Caps concurrent requests and body sizes; `exempt` paths (health) always pass."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_requests: int,
        max_body_bytes: int,
        retry_after: int,
        exempt: Iterable[str] = (),
        body_limits: Mapping[str, tuple[int, str]] | None = None,
    ) -> None:
        self.app = app
        self.max_requests = max_requests
        self.max_body_bytes = max_body_bytes
        self.retry_after = retry_after
        self.exempt = frozenset(exempt)
        # Paths with their own body limit and message (file uploads): path -> (bytes, message).
        self.body_limits = dict(body_limits or {})
        self._default_limit = (
            max_body_bytes,
            f"The request body is too large (limit {max_body_bytes} bytes).",
        )
        self.active = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        if self.active >= self.max_requests:
            await _reject(
                send,
                503,
                "The service is at capacity. Please try again in a few seconds.",
                "server_overloaded",
                retry_after=self.retry_after,
            )
            return
        limit, message = self.body_limits.get(scope["path"], self._default_limit)
        length = _content_length(scope)
        if length is not None and length > limit:
            await _reject(send, 413, message, "request_too_large")
            return
        self.active += 1
        try:
            await self.app(scope, _bounded(receive, limit, message), send)
        finally:
            self.active -= 1


def _bounded(receive: Receive, limit: int, too_large: str) -> Receive:
    seen = 0

    async def bounded_receive() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise PayloadTooLarge(too_large, code="request_too_large")
        return message

    return bounded_receive


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _reject(
    send: Send, status: int, message: str, code: str, retry_after: int | None = None
) -> None:
    body = orjson.dumps(
        error_body(message, "server_error" if status >= 500 else "invalid_request_error", code=code)
    )
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
