"""Load generator for the gateway benchmark: open-loop requests or concurrent SSE streams.

Two modes, both against an OpenAI-compatible ``/v1/chat/completions``:

``open``
    Non-streaming requests at a fixed arrival rate: request *k* is sent at ``t0 + k/R``
    whatever happened to the earlier ones (open loop, so a slow server cannot slow the
    offered load down). A request whose send slipped more than 5 ms behind its schedule
    is counted: many of them mean the generator, not the server, was the limit.
``stream``
    C simulated users, started evenly over a ramp, each sending streaming requests back
    to back until the duration is over and reading every answer to ``[DONE]``. Tokens are
    counted per content chunk; the total rate is taken over a steady window, after the
    ramp and the first token, so it is comparable with the ideal ``C * tokens_per_s``.

``open`` uses aiohttp; ``stream`` reads answers with a minimal HTTP/1.1 protocol that
counts tokens in its ``data_received`` callback (see ``_StreamProtocol``), because
aiohttp's per-chunk task wake-ups doubled the generator's CPU per token. The load is
split evenly across ``--workers`` processes (one event loop each, so the
generator can use more than one core) and their results are merged. The generator's own
CPU time (its processes and their children) is reported, so a reader can tell when the
harness was the bottleneck. Output is JSON, to stdout or ``--out``.

Usage::

    python loadgen.py open --url http://127.0.0.1:9001/v1 --rate 200 --duration 10
    python loadgen.py stream --url http://127.0.0.1:8000/v1 --api-key KEY \\
        --concurrency 1000 --duration 20 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import multiprocessing
import re
import resource
import sys
import time
import traceback
import urllib.parse
from collections import Counter
from collections.abc import Iterable
from multiprocessing.connection import Connection
from typing import Any, cast

import aiohttp
import numpy as np
import uvloop

# A send later than this behind its schedule means the generator could not keep up.
SLIP_THRESHOLD_S = 0.005
# Delay between forking the workers and the common start, so that every worker has set
# up its event loop and session before the first scheduled request.
START_DELAY_S = 0.3
# A content chunk: `"content":"x...` with a non-empty string (role-only chunks, empty or
# null content are not tokens). `\s*` because not every server writes compact JSON.
CONTENT_RE = re.compile(rb'"content":\s*"(?!")')
SSE_EVENT_END = b"\n\n"
SSE_DONE = b"data: [DONE]"
# A user whose request failed waits this long before the next one, as a person would,
# rather than hammering a refusing server in a tight loop.
RETRY_PAUSE_S = 1.0
CONNECT_TIMEOUT_S = 10.0


@dataclasses.dataclass(frozen=True)
class Target:
    """Where to send requests and what to ask for."""

    base_url: str
    api_key: str | None
    model: str
    max_tokens: int | None
    extra_body: dict[str, Any]

    @property
    def url(self) -> str:
        """The chat completions endpoint."""
        return self.base_url.rstrip("/") + "/chat/completions"

    def headers(self) -> dict[str, str]:
        """Request headers, with the bearer token when there is one."""
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def body(self, *, stream: bool) -> bytes:
        """The request body, encoded once and reused for every request."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": "Say something short."}],
            "stream": stream,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        body.update(self.extra_body)
        return json.dumps(body).encode()


@dataclasses.dataclass(frozen=True)
class WorkerSpec:
    """One worker's share of a run; worker *i* of *n* takes every *n*-th request or user."""

    mode: str
    target: Target
    t0: float  # time.monotonic() of the common start; CLOCK_MONOTONIC is system-wide
    index: int
    workers: int
    duration_s: float
    timeout_s: float
    rate: float = 0.0
    concurrency: int = 0
    ramp_s: float = 0.0
    warmup_s: float = 0.0


@dataclasses.dataclass
class WorkerResult:
    """Raw observations of one worker, merged by the parent."""

    latencies: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    retry_after: Counter[str] = dataclasses.field(default_factory=Counter)
    errors: Counter[str] = dataclasses.field(default_factory=Counter)
    scheduled: int = 0
    slipped: int = 0
    max_slip_s: float = 0.0
    last_done: float = 0.0
    ttfts: list[float] = dataclasses.field(default_factory=list)
    stream_rates: list[float] = dataclasses.field(default_factory=list)
    requests: int = 0
    ok: int = 0
    tokens: int = 0
    window_tokens: int = 0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    failure: str | None = None


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connect"
    return type(exc).__name__


def _session(timeout: aiohttp.ClientTimeout) -> aiohttp.ClientSession:
    # limit=0: no client-side cap on connections, the server alone limits concurrency.
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None)
    return aiohttp.ClientSession(connector=connector, timeout=timeout)


async def _sleep_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


# --- open loop -------------------------------------------------------------------------


async def _one_request(
    session: aiohttp.ClientSession,
    target: Target,
    body: bytes,
    headers: dict[str, str],
    scheduled: float,
    result: WorkerResult,
) -> None:
    start = time.monotonic()
    slip = start - scheduled
    result.max_slip_s = max(result.max_slip_s, slip)
    if slip > SLIP_THRESHOLD_S:
        result.slipped += 1
    try:
        async with session.post(target.url, data=body, headers=headers) as response:
            await response.read()
            status = str(response.status)
            if response.headers.get("Retry-After") is not None:
                result.retry_after[status] += 1
    except (TimeoutError, aiohttp.ClientError) as exc:
        result.errors[_error_kind(exc)] += 1
        return
    done = time.monotonic()
    result.last_done = max(result.last_done, done)
    result.latencies.setdefault(status, []).append(done - start)
    if status != "200":
        result.errors[f"http_{status}"] += 1


async def run_open_loop(spec: WorkerSpec) -> WorkerResult:
    """Send this worker's share of requests ``k = index, index + workers, ...`` at ``t0 + k/R``."""
    result = WorkerResult()
    target = spec.target
    body = target.body(stream=False)
    headers = target.headers()
    total = int(spec.rate * spec.duration_s)
    tasks: set[asyncio.Task[None]] = set()
    async with _session(aiohttp.ClientTimeout(total=spec.timeout_s)) as session:
        cpu0 = _cpu_seconds(resource.RUSAGE_SELF)
        for k in range(spec.index, total, spec.workers):
            scheduled = spec.t0 + k / spec.rate
            await _sleep_until(scheduled)
            task = asyncio.create_task(
                _one_request(session, target, body, headers, scheduled, result)
            )
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            result.scheduled += 1
        # Every request has its own total timeout, so this wait is bounded.
        if tasks:
            await asyncio.wait(tasks)
        result.cpu_s = _cpu_seconds(resource.RUSAGE_SELF) - cpu0
        result.wall_s = time.monotonic() - spec.t0
    return result


# --- streaming -------------------------------------------------------------------------


@dataclasses.dataclass
class _StreamRead:
    """What one streamed answer looked like."""

    status: int = 0
    tokens: int = 0
    first: float = 0.0
    last: float = 0.0
    done: bool = False  # saw `data: [DONE]`
    error: bool = False  # saw an error event
    keep_alive: bool = True


class _StreamProtocol(asyncio.Protocol):
    """A minimal HTTP/1.1 client reading streamed answers on one kept-alive connection.

    aiohttp wakes a task and runs its stream reader for every chunk: at tens of thousands
    of tokens a second that made the generator use more CPU than the servers it measured,
    on a machine where they share the cores. Here each chunk is de-chunked and counted
    inside ``data_received``, with no task switch. Plain http only (loopback benchmark).
    """

    def __init__(self, window: tuple[float, float], result: WorkerResult) -> None:
        self.window = window
        self.result = result
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.last_activity = time.monotonic()
        self._done: asyncio.Future[_StreamRead] | None = None
        self._read = _StreamRead()
        self._head = b""
        self._in_body = False
        self._chunked = False
        self._length: int | None = None  # Content-Length, when not chunked
        self._frame = b""  # chunk framing not parsed yet
        self._data_left = 0  # bytes left in the current chunk
        self._crlf_left = 0  # bytes left of the CRLF closing the current chunk
        self._trailer = False  # the last chunk was seen, its closing CRLF is due
        self._sse = b""  # SSE text after the last complete event

    def start(self, request: bytes) -> asyncio.Future[_StreamRead]:
        """Send ``request``; the future resolves when its whole answer has been read."""
        assert self.transport is not None
        self._done = asyncio.get_running_loop().create_future()
        self._read = _StreamRead()
        self._head = b""
        self._in_body = self._chunked = self._trailer = False
        self._length = None
        self._frame = self._sse = b""
        self._data_left = self._crlf_left = 0
        self.last_activity = time.monotonic()
        self.transport.write(request)
        return self._done

    @property
    def waiting(self) -> bool:
        """Whether a request is in progress."""
        return self._done is not None and not self._done.done()

    def fail(self, exc: BaseException) -> None:
        """Abort the request in progress (read timeout) and the connection."""
        if self._done is not None and not self._done.done():
            self._done.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A cast, not an isinstance check: uvloop's transports do not subclass asyncio's.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self._done is None or self._done.done():
            return
        if self._in_body and not self._chunked and self._length is None:
            # A body delimited by the end of the connection is complete now.
            self._read.keep_alive = False
            self._done.set_result(self._read)
        else:
            self._done.set_exception(ConnectionResetError("connection closed mid-answer"))

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self.last_activity = now
        if not self._in_body:
            head = self._head + data
            end = head.find(b"\r\n\r\n")
            if end < 0:
                self._head = head
                return
            self._parse_head(head[:end])
            data = head[end + 4 :]
        if self._chunked:
            self._feed_chunked(data, now)
        elif self._length is not None:
            data = data[: self._length]
            self._length -= len(data)
            self._feed_sse(data, now)
            if self._length == 0:
                self._finish()
        else:
            self._feed_sse(data, now)

    def _parse_head(self, head: bytes) -> None:
        self._in_body = True
        lines = head.lower().split(b"\r\n")
        self._read.status = int(lines[0].split(b" ", 2)[1])
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            value = value.strip()
            if name == b"transfer-encoding" and value == b"chunked":
                self._chunked = True
            elif name == b"content-length":
                self._length = int(value)
            elif name == b"connection" and value == b"close":
                self._read.keep_alive = False
        if lines[0].startswith(b"http/1.0"):
            self._read.keep_alive = False
        if self._length == 0 and not self._chunked:
            self._finish()

    def _feed_chunked(self, data: bytes, now: float) -> None:
        buf = self._frame + data if self._frame else data
        pos, size_of = 0, len(buf)
        while pos < size_of:
            if self._data_left:
                take = min(self._data_left, size_of - pos)
                self._feed_sse(buf[pos : pos + take], now)
                pos += take
                self._data_left -= take
                if self._data_left:
                    break
                self._crlf_left = 2
            if self._crlf_left:
                take = min(self._crlf_left, size_of - pos)
                pos += take
                self._crlf_left -= take
                continue
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            if self._trailer:  # the empty line after the last chunk (no trailers here)
                self._finish()
                return
            size = int(buf[pos:eol].split(b";", 1)[0], 16)
            pos = eol + 2
            if size == 0:
                self._trailer = True
            self._data_left = size
        self._frame = buf[pos:]

    def _feed_sse(self, data: bytes, now: float) -> None:
        """Count content chunks as they arrive, without parsing the JSON of every chunk."""
        text = self._sse + data if self._sse else data
        cut = text.rfind(SSE_EVENT_END)
        if cut < 0:
            self._sse = text
            return
        events, self._sse = text[:cut], text[cut + len(SSE_EVENT_END) :]
        read = self._read
        count = len(CONTENT_RE.findall(events))
        if count:
            if not read.tokens:
                read.first = now
            read.tokens += count
            read.last = now
            if self.window[0] <= now <= self.window[1]:
                self.result.window_tokens += count
        if b'"error"' in events:
            read.error = True
        if SSE_DONE in events:
            read.done = True

    def _finish(self) -> None:
        self._in_body = False
        if self._done is not None and not self._done.done():
            self._done.set_result(self._read)


def _stream_request(target: Target) -> tuple[str, int, bytes]:
    """Host, port and the raw bytes of the streaming request, built once."""
    url = urllib.parse.urlsplit(target.url)
    if url.scheme != "http" or url.hostname is None:
        raise ValueError(f"stream mode speaks plain http only, not {target.url}")
    port = url.port or 80
    body = target.body(stream=True)
    headers = {
        **target.headers(),
        "Host": f"{url.hostname}:{port}",
        "Accept": "text/event-stream",
        "Content-Length": str(len(body)),
    }
    head = f"POST {url.path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return url.hostname, port, (head + "\r\n").encode() + body


async def _one_stream(protocol: _StreamProtocol, request: bytes, result: WorkerResult) -> bool:
    """Stream one answer to its end; return whether it succeeded."""
    start = time.monotonic()
    result.requests += 1
    try:
        read = await protocol.start(request)
    except (TimeoutError, ConnectionError) as exc:
        result.errors[_error_kind(exc)] += 1
        return False
    result.tokens += read.tokens
    if not read.keep_alive and protocol.transport is not None:
        protocol.transport.close()
    if read.status != 200:
        result.errors[f"http_{read.status}"] += 1
    elif read.error:
        result.errors["stream_error"] += 1
    elif not read.done:
        result.errors["no_done"] += 1
    elif not read.tokens:
        result.errors["no_tokens"] += 1
    else:
        result.ok += 1
        result.ttfts.append(read.first - start)
        if read.tokens > 1 and read.last > read.first:
            result.stream_rates.append((read.tokens - 1) / (read.last - read.first))
        return True
    return False


async def _user(
    spec: WorkerSpec,
    user: int,
    address: tuple[str, int, bytes],
    window: tuple[float, float],
    live: set[_StreamProtocol],
    result: WorkerResult,
) -> None:
    """One simulated user: start on its ramp slot, then stream answers back to back."""
    host, port, request = address
    loop = asyncio.get_running_loop()
    await _sleep_until(spec.t0 + spec.ramp_s * user / spec.concurrency)
    end = spec.t0 + spec.duration_s
    protocol: _StreamProtocol | None = None
    try:
        while time.monotonic() < end:
            if protocol is None or protocol.lost:
                try:
                    _, connected = await asyncio.wait_for(
                        loop.create_connection(lambda: _StreamProtocol(window, result), host, port),
                        CONNECT_TIMEOUT_S,
                    )
                except (TimeoutError, OSError) as exc:
                    result.requests += 1
                    result.errors["connect" if isinstance(exc, OSError) else "timeout"] += 1
                    await asyncio.sleep(RETRY_PAUSE_S)
                    continue
                protocol = connected
                live.add(protocol)
            if not await _one_stream(protocol, request, result):
                await asyncio.sleep(RETRY_PAUSE_S)
    finally:
        if protocol is not None:
            live.discard(protocol)
            if protocol.transport is not None:
                protocol.transport.close()


async def _watch_read_timeouts(live: set[_StreamProtocol], timeout_s: float) -> None:
    """Fail answers silent for longer than ``timeout_s``: one sweep a second, not a timer
    per chunk."""
    while True:
        await asyncio.sleep(1.0)
        limit = time.monotonic() - timeout_s
        for protocol in list(live):
            if protocol.waiting and protocol.last_activity < limit:
                protocol.fail(TimeoutError("read timeout"))


async def run_streams(spec: WorkerSpec) -> WorkerResult:
    """Run this worker's users ``index, index + workers, ...`` until the duration is over."""
    result = WorkerResult()
    address = _stream_request(spec.target)
    window = (spec.t0 + spec.ramp_s + spec.warmup_s, spec.t0 + spec.duration_s)
    live: set[_StreamProtocol] = set()
    watchdog = asyncio.create_task(_watch_read_timeouts(live, spec.timeout_s))
    cpu0 = _cpu_seconds(resource.RUSAGE_SELF)
    users = [
        asyncio.create_task(_user(spec, u, address, window, live, result))
        for u in range(spec.index, spec.concurrency, spec.workers)
    ]
    # Hard stop: a user's last request may not outlive the run by more than the read
    # timeout plus a margin, whatever the server does.
    _, late = await asyncio.wait(users, timeout=spec.duration_s + 2 * spec.timeout_s + 5)
    for task in late:
        task.cancel()
    result.errors["unfinished"] += len(late)
    if late:
        await asyncio.wait(late)
    watchdog.cancel()
    result.cpu_s = _cpu_seconds(resource.RUSAGE_SELF) - cpu0
    result.wall_s = time.monotonic() - spec.t0
    return result


# --- workers and merging ---------------------------------------------------------------


def _worker_main(spec: WorkerSpec, conn: Connection) -> None:
    try:
        run = run_open_loop if spec.mode == "open" else run_streams
        result = uvloop.run(run(spec))
    except BaseException:
        result = WorkerResult(failure=traceback.format_exc())
    conn.send(result)
    conn.close()


def run_workers(specs: list[WorkerSpec]) -> list[WorkerResult]:
    """Run one process per spec and collect their results."""
    # fork: workers start in milliseconds with everything imported, which START_DELAY_S
    # relies on; the parent has no threads or event loop to inherit.
    ctx = multiprocessing.get_context("fork")
    procs = []
    for spec in specs:
        parent_conn, child_conn = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_worker_main, args=(spec, child_conn), daemon=True)
        proc.start()
        child_conn.close()
        procs.append((proc, parent_conn))
    results = []
    for proc, conn in procs:
        try:
            results.append(conn.recv())
        except EOFError:
            results.append(WorkerResult(failure=f"worker exited with code {proc.exitcode}"))
        proc.join()
    return results


def _percentiles_ms(values: Iterable[float], points: Iterable[int]) -> dict[str, float | None]:
    data = np.fromiter(values, dtype=float)
    return {
        f"p{p}": (round(float(np.percentile(data, p)) * 1000.0, 2) if data.size else None)
        for p in points
    }


def _harness(results: list[WorkerResult], cpu_s: float, wall_s: float) -> dict[str, Any]:
    """CPU used by the generator: all its processes, in % of one core."""
    worker_pcts = [100.0 * r.cpu_s / r.wall_s for r in results if r.wall_s > 0]
    return {
        "cpu_s": round(cpu_s, 3),
        "wall_s": round(wall_s, 3),
        "cpu_pct": round(100.0 * cpu_s / wall_s, 1) if wall_s > 0 else None,
        "worker_cpu_pct_max": round(max(worker_pcts), 1) if worker_pcts else None,
        "workers": len(results),
    }


def merge_open(spec: WorkerSpec, results: list[WorkerResult]) -> dict[str, Any]:
    """Merge the open-loop workers' observations into one report."""
    latencies: dict[str, list[float]] = {}
    retry_after: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for r in results:
        for status, values in r.latencies.items():
            latencies.setdefault(status, []).extend(values)
        retry_after.update(r.retry_after)
        errors.update(r.errors)
    scheduled = sum(r.scheduled for r in results)
    ok = len(latencies.get("200", []))
    last_done = max((r.last_done for r in results), default=0.0)
    elapsed = last_done - spec.t0
    return {
        "mode": "open",
        "url": spec.target.url,
        "rate": spec.rate,
        "duration_s": spec.duration_s,
        "scheduled": scheduled,
        "ok": ok,
        "achieved_rps": round(ok / elapsed, 1) if ok and elapsed > 0 else 0.0,
        "error_rate": round(1.0 - ok / scheduled, 4) if scheduled else None,
        "errors": dict(errors),
        "latency_ms": _percentiles_ms(latencies.get("200", []), (50, 90, 99, 100)),
        "by_status": {
            status: {
                "count": len(values),
                "retry_after": retry_after[status],
                **_percentiles_ms(values, (50, 100)),
            }
            for status, values in sorted(latencies.items())
        },
        "slipped_5ms": sum(r.slipped for r in results),
        "max_slip_ms": round(max(r.max_slip_s for r in results) * 1000.0, 2),
    }


def merge_stream(spec: WorkerSpec, results: list[WorkerResult]) -> dict[str, Any]:
    """Merge the streaming workers' observations into one report."""
    errors: Counter[str] = Counter()
    for r in results:
        errors.update(r.errors)
    errors = +errors  # drops zero counts, e.g. "unfinished": 0
    requests = sum(r.requests for r in results)
    ok = sum(r.ok for r in results)
    rates = np.fromiter((x for r in results for x in r.stream_rates), dtype=float)
    window_s = spec.duration_s - spec.ramp_s - spec.warmup_s
    window_tokens = sum(r.window_tokens for r in results)
    return {
        "mode": "stream",
        "url": spec.target.url,
        "concurrency": spec.concurrency,
        "duration_s": spec.duration_s,
        "ramp_s": spec.ramp_s,
        "warmup_s": spec.warmup_s,
        "requests": requests,
        "ok": ok,
        "success_rate": round(ok / requests, 4) if requests else None,
        "errors": dict(errors),
        "output_tokens": sum(r.tokens for r in results),
        "window_s": round(window_s, 3),
        "window_tokens": window_tokens,
        "tokens_per_s": round(window_tokens / window_s, 1) if window_s > 0 else None,
        "stream_tps_mean": round(float(rates.mean()), 2) if rates.size else None,
        "stream_tps_p50": round(float(np.median(rates)), 2) if rates.size else None,
        "ttft_ms": _percentiles_ms((x for r in results for x in r.ttfts), (50, 99)),
    }


def run(base: WorkerSpec, workers: int) -> dict[str, Any]:
    """Run ``base`` split over ``workers`` processes and return the merged report."""
    cpu0 = _cpu_seconds(resource.RUSAGE_SELF) + _cpu_seconds(resource.RUSAGE_CHILDREN)
    wall0 = time.monotonic()
    t0 = wall0 + START_DELAY_S
    specs = [dataclasses.replace(base, t0=t0, index=i, workers=workers) for i in range(workers)]
    results = run_workers(specs)
    cpu_s = _cpu_seconds(resource.RUSAGE_SELF) + _cpu_seconds(resource.RUSAGE_CHILDREN) - cpu0
    failures = [r.failure for r in results if r.failure]
    if failures:
        raise RuntimeError("load generator worker failed:\n" + "\n".join(failures))
    merged = (
        merge_open(specs[0], results) if base.mode == "open" else merge_stream(specs[0], results)
    )
    merged["harness"] = _harness(results, cpu_s, time.monotonic() - wall0)
    return merged


def raise_nofile_limit() -> int:
    """Raise the open-files soft limit to the hard limit (thousands of sockets)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", required=True, help="base URL ending in /v1")
    common.add_argument("--api-key", help="sent as Authorization: Bearer")
    common.add_argument("--model", default="sim")
    common.add_argument("--max-tokens", type=int, help="max_tokens in each request")
    common.add_argument("--extra-body", default="{}", help="JSON merged into each request body")
    common.add_argument("--duration", type=float, required=True, help="seconds")
    common.add_argument("--workers", type=int, default=1, help="generator processes")
    common.add_argument("--out", help="write the JSON report here instead of stdout")
    open_p = sub.add_parser("open", parents=[common], help="open-loop, non-streaming")
    open_p.add_argument("--rate", type=float, required=True, help="requests per second")
    open_p.add_argument("--timeout", type=float, default=10.0, help="per request, seconds")
    stream_p = sub.add_parser("stream", parents=[common], help="concurrent SSE streams")
    stream_p.add_argument("--concurrency", type=int, required=True)
    stream_p.add_argument("--ramp", type=float, default=1.5, help="seconds to start all users")
    stream_p.add_argument(
        "--warmup",
        type=float,
        default=1.0,
        help="seconds after the ramp before tokens count towards the total rate (cover TTFT)",
    )
    stream_p.add_argument(
        "--timeout", type=float, default=30.0, help="longest silence within a stream, seconds"
    )
    args = parser.parse_args(argv)
    if args.workers < 1 or args.duration <= 0:
        parser.error("--workers must be >= 1 and --duration > 0")
    if args.mode == "open" and args.rate <= 0:
        parser.error("--rate must be > 0")
    if args.mode == "stream" and not 0 <= args.ramp + args.warmup < args.duration:
        parser.error("--ramp + --warmup must be >= 0 and shorter than --duration")
    return args


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    args = parse_args(argv)
    raise_nofile_limit()
    target = Target(
        base_url=args.url,
        api_key=args.api_key,
        model=args.model,
        max_tokens=args.max_tokens,
        extra_body=json.loads(args.extra_body),
    )
    spec = WorkerSpec(
        mode=args.mode,
        target=target,
        t0=0.0,
        index=0,
        workers=1,
        duration_s=args.duration,
        timeout_s=args.timeout,
        rate=args.rate if args.mode == "open" else 0.0,
        concurrency=args.concurrency if args.mode == "stream" else 0,
        ramp_s=args.ramp if args.mode == "stream" else 0.0,
        warmup_s=args.warmup if args.mode == "stream" else 0.0,
    )
    report = json.dumps(run(spec, args.workers), indent=2)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(report + "\n")
    else:
        sys.stdout.write(report + "\n")


if __name__ == "__main__":
    main()
