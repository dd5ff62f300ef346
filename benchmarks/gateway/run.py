"""Gateway benchmark: Autan against a bare relay, LiteLLM and no gateway at all.

Every target is measured against the same simulated upstream (``autan.devtools.upstream_sim``,
one process per scenario, shared by all targets), with the load generator (``loadgen.py``)
in its own processes:

* ``direct``: load generator -> upstream simulator (the floor);
* ``bare relay``: a ~40-line FastAPI + uvicorn + aiohttp relay defined in this file (no
  auth, raw bytes): the per-core ideal for a Python gateway;
* ``autan`` (1 worker) and ``autan-2w`` (2 workers): ``autan serve`` with a models file;
* ``litellm``: the LiteLLM proxy from ``benchmarks/.venv-litellm`` (``setup_litellm.sh``).

Scenarios: open-loop non-streaming rates, a streaming concurrency sweep, an overload burst
against a small Autan replica limit, and idle memory. Results go to
``benchmarks/results/gateway.md`` and ``gateway.json``.

    .venv/bin/python benchmarks/gateway/run.py [--quick] [--targets direct,bare,autan,...]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import functools
import importlib.metadata
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import uvicorn

# At module level, not inside serve_bare_relay(): FastAPI resolves the (postponed)
# annotations of an endpoint in its module's globals.
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
LOADGEN = HERE / "loadgen.py"
RESULTS_DIR = ROOT / "benchmarks" / "results"
WORK_DIR = ROOT / "benchmarks" / ".work"
LITELLM_VENV = ROOT / "benchmarks" / ".venv-litellm"
PYTHON = sys.executable
AUTAN = str(Path(PYTHON).with_name("autan"))
HOST = "127.0.0.1"
STARTED = time.monotonic()
MODEL = "sim"
DEFAULT_TARGETS = ("direct", "bare", "autan", "autan-2w", "litellm")
# bare-asyncio: the bare relay on asyncio's event loop instead of uvloop. libuv accepts
# one connection per loop iteration, so a busy uvloop server leaves a ramp of new
# connections queued for seconds; this variant shows how much of a TTFT tail that is.
ALL_TARGETS = (*DEFAULT_TARGETS, "bare-asyncio")

# A target is saturated past these, and its sweep stops there.
SATURATED_ERROR_RATE = 0.10
SATURATED_P50_MS = 1000.0
SATURATED_ACHIEVED_SHARE = 0.9  # of the offered rate
STREAM_MIN_SUCCESS = 0.90
STREAM_MIN_SHARE = 0.5  # of the reachable token rate: answers take twice as long
# The harness is the limit when one load-generator process uses this much of a core.
HARNESS_LIMIT_PCT = 80.0
# "The harness can drive this level" when the direct run reaches this share of the ideal.
DIRECT_OK_SHARE = 0.90
# INRAE's published figures for their own service, quoted as context in the report.
INRAE_REFERENCE = (
    "INRAE's published reference for their own service: 2,000 concurrent users: 100 % "
    "answered, 5,489 tok/s in total, 12.3 tok/s per user; 3,000 concurrent: 99.6 % answered."
)


@dataclasses.dataclass(frozen=True)
class Plan:
    """Sizes of every scenario; ``QUICK`` is the smoke-test version."""

    open_rates: tuple[int, ...] = (100, 200, 400)
    # LiteLLM is known to saturate near 50 req/s: it (and direct, for the deltas) also
    # runs these lower rates.
    low_rates: tuple[int, ...] = (25, 50)
    open_duration_s: float = 12.0
    open_tokens: int = 16
    stream_levels: tuple[int, ...] = (250, 500, 1000, 2000, 4000)
    stream_duration_s: float = 25.0
    stream_ramp_s: float = 1.5
    stream_tokens: int = 200
    stream_tps: float = 20.0
    stream_ttft_ms: float = 200.0
    overload_capacity: int = 50
    overload_queue: int = 20
    overload_queue_timeout_s: float = 0.5
    overload_burst: int = 500
    overload_tokens: int = 40  # at stream_tps: each admitted request holds its slot ~2 s


FULL = Plan()
QUICK = Plan(
    open_rates=(50,),
    low_rates=(),
    open_duration_s=3.0,
    stream_levels=(50,),
    stream_duration_s=3.0,
    stream_ramp_s=0.5,
    stream_tokens=20,
    overload_burst=200,
)


# --- processes -------------------------------------------------------------------------


class Processes:
    """Every child process, each in its own process group, all stopped at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._procs: list[subprocess.Popen[bytes]] = []

    def log_path(self, name: str) -> Path:
        """Where the output of process ``name`` goes."""
        return self.log_dir / f"{name}.log"

    def start(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> psutil.Process:
        """Start ``cmd`` with its output in ``log_path(name)``."""
        log = self.log_path(name).open("ab")
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=self.log_dir,
            start_new_session=True,  # its own process group: killpg reaches uvicorn workers
        )
        log.close()
        self._procs.append(proc)
        return psutil.Process(proc.pid)

    def stop(self, *processes: psutil.Process) -> None:
        """Stop these processes (their whole groups), all at once."""
        pids = {p.pid for p in processes}
        _stop_groups([proc for proc in self._procs if proc.pid in pids])
        self._procs = [proc for proc in self._procs if proc.pid not in pids]

    def stop_all(self) -> None:
        """Stop every process still running."""
        _stop_groups(self._procs)
        self._procs = []


def _stop_groups(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every process group, then SIGKILL those still there after 10 s."""
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def log(message: str) -> None:
    """Progress on stderr, with the time since start."""
    print(f"[{time.monotonic() - STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    """A TCP port free right now on the loopback interface."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def http_status(
    url: str, body: dict[str, Any] | None = None, key: str | None = None, timeout: float = 5.0
) -> int:
    """Status of a GET (or a POST of ``body``); 0 when the connection fails."""
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, TimeoutError):
        return 0


def wait_until(check: Any, timeout_s: float, what: str, process: psutil.Process | None) -> None:
    """Poll ``check()`` until true; fail early if ``process`` died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        if process is not None and not _alive(process):
            raise RuntimeError(f"{what}: the process exited (see its log)")
        time.sleep(0.25)
    raise RuntimeError(f"{what}: not ready after {timeout_s:.0f} s")


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# --- measuring processes ---------------------------------------------------------------


def tree(process: psutil.Process) -> list[psutil.Process]:
    """The process and its descendants (uvicorn workers)."""
    try:
        return [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_cpu_s(process: psutil.Process) -> float:
    """User + system CPU seconds of the live process tree."""
    total = 0.0
    for proc in tree(process):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def tree_rss_mb(process: psutil.Process) -> float:
    """Resident memory of the process tree, in MiB."""
    total = 0
    for proc in tree(process):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += proc.memory_info().rss
    return total / 2**20


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent not idle, over all cores."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def children_cpu_s() -> float:
    """CPU seconds of this orchestrator's finished children (the load generator runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_cpu_s() -> float:
    """CPU seconds of this orchestrator (including its sampling thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_by_process() -> dict[int, tuple[str, float]]:
    """Command line (shortened) and CPU seconds of every process on the machine."""
    snapshot = {}
    for proc in psutil.process_iter(["cmdline", "name", "cpu_times"]):
        times = proc.info["cpu_times"]
        if times is not None:
            command = " ".join((proc.info["cmdline"] or [proc.info["name"] or "?"])[:4])
            snapshot[proc.pid] = (command[:120], times.user + times.system)
    return snapshot


def busiest(
    before: dict[int, tuple[str, float]],
    after: dict[int, tuple[str, float]],
    wall: float,
    exclude: set[int],
) -> list[dict[str, Any]]:
    """Processes outside the measurement that used over 5 % of a core: what the
    background CPU was (on a shared machine, someone else's tests)."""
    rows = []
    for pid, (command, cpu) in after.items():
        pct = 100 * (cpu - before.get(pid, (command, 0.0))[1]) / wall
        if pid not in exclude and pct > 5:
            rows.append((pct, pid, command))
    rows.sort(reverse=True)
    return [{"pid": pid, "command": cmd, "cpu_pct": round(pct, 1)} for pct, pid, cmd in rows[:5]]


class RssSampler:
    """Peak RSS of a process tree, sampled every 0.5 s in a background thread."""

    def __init__(self, process: psutil.Process | None) -> None:
        self.process = process
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        if self.process is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        assert self.process is not None
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, tree_rss_mb(self.process))
            self._stop.wait(0.5)


def settle(processes: list[psutil.Process], timeout_s: float = 20.0) -> None:
    """Wait until the servers are idle, so a saturated target's backlog does not spill
    over into the next measurement."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        before = sum(tree_cpu_s(p) for p in processes)
        time.sleep(0.5)
        if sum(tree_cpu_s(p) for p in processes) - before < 0.05:  # < 10 % of a core
            return


# --- targets ---------------------------------------------------------------------------


@dataclasses.dataclass
class Target:
    """One way of reaching the upstream."""

    name: str
    label: str
    base_url: str
    api_key: str | None = None
    process: psutil.Process | None = None  # None for direct
    log: Path | None = None
    idle_rss_mb: float | None = None
    version: str | None = None
    unavailable: str | None = None  # why it could not run
    saturated_at: str | None = None  # first scenario point where it saturated

    @property
    def usable(self) -> bool:
        """Whether the target runs (is up, and did not die)."""
        return self.unavailable is None and (self.process is None or _alive(self.process))

    def ready(self) -> bool:
        """Whether a short chat completion goes through right now."""
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
        return http_status(f"{self.base_url}/chat/completions", body, self.api_key) == 200


def start_sim(
    procs: Processes, port: int, ttft_ms: float, tps: float, tokens: int
) -> psutil.Process:
    """Start the upstream simulator on ``port`` and wait for it."""
    options = f"--host {HOST} --port {port} --ttft-ms {ttft_ms} --tokens-per-s {tps}"
    options += f" --tokens {tokens} --model sim-model"
    cmd = [PYTHON, "-m", "autan.devtools.upstream_sim", *options.split()]
    sim = procs.start(f"upstream_sim-{port}", cmd)
    wait_until(lambda: http_status(f"http://{HOST}:{port}/health") == 200, 20, "upstream_sim", sim)
    return sim


def start_bare(procs: Processes, name: str, upstream: str) -> Target:
    """Start the bare relay (``serve_bare_relay`` below, in its own process)."""
    port = free_port()
    loop = "asyncio" if name == "bare-asyncio" else "auto"  # auto: uvloop, as installed
    cmd = [PYTHON, str(Path(__file__).resolve()), "--serve-bare-relay", upstream]
    cmd += ["--port", str(port), "--loop", loop]
    process = procs.start(name, cmd)
    label = "bare relay, asyncio loop" if loop == "asyncio" else "bare relay"
    target = Target(name, label, f"http://{HOST}:{port}/v1", process=process)
    target.log = procs.log_path(name)
    target.version = f"fastapi {_version('fastapi')}, uvicorn {_version('uvicorn')}"
    return target


def _autan_models_yaml(upstream: str, max_concurrent: int) -> str:
    return (
        "models:\n"
        f"  - id: {MODEL}\n"
        "    type: chat\n"
        "    display_name: Simulated\n"
        "    description: Simulated upstream\n"
        "    context_length: 8192\n"
        "    replicas:\n"
        f"      - url: {upstream}\n"
        f"        max_concurrent: {max_concurrent}\n"
    )


@dataclasses.dataclass(frozen=True)
class AutanAccount:
    """The data dir and API key every Autan instance of a run shares."""

    data_dir: Path
    key: str = ""
    error: str | None = None


@functools.cache
def autan_account(work: Path) -> AutanAccount:
    """Create the database, a user and its key, once per run.

    Shared by every Autan instance (each has its own models file): the CLI takes seconds
    to start, and three calls per instance made the start-up the longest part of a quick
    run.
    """
    data_dir = work / "autan-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    if not Path(AUTAN).exists():
        return AutanAccount(data_dir, error=f"{AUTAN} not found")
    env = {**os.environ, "AUTAN_DATA_DIR": str(data_dir), "AUTAN_LOG_LEVEL": "WARNING"}
    steps = (
        [AUTAN, "migrate"],
        [AUTAN, "users", "create", "bench@example.org", "--role", "admin"],
        [AUTAN, "keys", "create", "bench@example.org"],
    )
    for step in steps:
        done = subprocess.run(step, env=env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            reason = (done.stderr or done.stdout).strip().splitlines()[-1:]
            return AutanAccount(data_dir, error=f"`autan {' '.join(step[1:3])}` failed: {reason}")
    key = done.stdout.strip()  # `keys create` prints only the secret
    return AutanAccount(data_dir, key) if key else AutanAccount(data_dir, error="no API key")


def start_autan(
    procs: Processes,
    name: str,
    label: str,
    work: Path,
    upstream: str,
    *,
    workers: int,
    max_concurrent: int,
    gateway_env: dict[str, str],
) -> Target:
    """Start ``autan serve`` with a models file pointing at the upstream."""
    account = autan_account(work)
    if account.error:
        return Target(name, label, "", unavailable=account.error)
    models_file = work / f"{name}-models.yaml"
    models_file.write_text(_autan_models_yaml(upstream, max_concurrent))
    env = {
        "AUTAN_DATA_DIR": str(account.data_dir),
        "AUTAN_MODELS_FILE": str(models_file),
        "AUTAN_LOG_LEVEL": "WARNING",
        **gateway_env,
    }
    port = free_port()
    cmd = [AUTAN, "serve", "--host", HOST, "--port", str(port), "--workers", str(workers)]
    process = procs.start(name, cmd, env)
    target = Target(name, label, f"http://{HOST}:{port}/v1", api_key=account.key, process=process)
    target.log = procs.log_path(name)
    target.version = f"autan {_version('autan')}"
    return target


def start_litellm(procs: Processes, work: Path, upstream: str) -> Target:
    """Start the LiteLLM proxy (one worker) from its own venv."""
    litellm = LITELLM_VENV / "bin" / "litellm"
    if not litellm.exists():
        return Target(
            "litellm",
            "LiteLLM",
            "",
            unavailable=f"{litellm} missing: run benchmarks/gateway/setup_litellm.sh",
        )
    config = work / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        "      model: openai/sim-model\n"
        f"      api_base: {upstream}\n"
        "      api_key: sk-unused\n"
        "litellm_settings:\n"
        "  drop_params: true\n"
        "  telemetry: false\n"
    )
    port = free_port()
    env = {
        # Offline machine: use the bundled model price map instead of fetching it.
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
    }
    options = f"--host {HOST} --port {port} --num_workers 1 --telemetry False"
    cmd = [str(litellm), "--config", str(config), *options.split()]
    process = procs.start("litellm", cmd, env)
    target = Target("litellm", "LiteLLM", f"http://{HOST}:{port}/v1", process=process)
    target.log = procs.log_path("litellm")
    code = "import importlib.metadata as m; print(m.version('litellm'))"
    python = str(LITELLM_VENV / "bin" / "python")
    version = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60)
    target.version = f"litellm {version.stdout.strip() or '?'}"
    return target


def wait_ready(target: Target, timeout_s: float) -> None:
    """Wait for ``target`` to relay a request; mark it unavailable if it never does."""
    try:
        wait_until(target.ready, timeout_s, target.name, target.process)
    except RuntimeError as exc:
        target.unavailable = str(exc)
        if target.log is not None and target.log.exists():
            tail = [line for line in target.log.read_text(errors="replace").splitlines() if line]
            target.unavailable += "; its log ends with: " + " / ".join(tail[-4:])


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


# --- running the load generator --------------------------------------------------------


@dataclasses.dataclass
class Bench:
    """What every run needs: the scratch dir, the upstream, the servers to watch."""

    work: Path
    sim: psutil.Process
    sim_url: str
    servers: list[psutil.Process]


def run_loadgen(
    bench: Bench, target: Target, mode: str, args: list[str], timeout_s: float
) -> dict[str, Any]:
    """Run one load-generator job against ``target`` and measure every process around it."""
    settle([bench.sim, *bench.servers])
    http_status(f"{bench.sim_url}/_sim/reset", body={})
    out = bench.work / f"loadgen-{target.name}-{mode}-{time.monotonic_ns()}.json"
    cmd = [PYTHON, str(LOADGEN), mode, "--url", target.base_url, "--model", MODEL]
    cmd += ["--out", str(out), *args]
    if target.api_key:
        cmd += ["--api-key", target.api_key]
    server = target.process
    server_cpu0 = tree_cpu_s(server) if server else 0.0
    sim_cpu0 = tree_cpu_s(bench.sim)
    busy0, own0, wall0 = machine_busy_s(), own_cpu_s(), time.monotonic()
    children0, everyone0 = children_cpu_s(), cpu_by_process()
    with RssSampler(server) as rss:
        proc = subprocess.Popen(cmd, start_new_session=True, stderr=subprocess.PIPE)
        try:
            _, stderr = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _stop_groups([proc])
            raise RuntimeError(f"load generator timed out after {timeout_s:.0f} s") from None
    wall = time.monotonic() - wall0
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed: {stderr.decode()[-2000:]}")
    report: dict[str, Any] = json.loads(out.read_text())
    server_cpu = (tree_cpu_s(server) - server_cpu0) if server else 0.0
    sim_cpu = tree_cpu_s(bench.sim) - sim_cpu0
    # The load generator's whole CPU, start-up included (its report covers the run only).
    harness_cpu = children_cpu_s() - children0
    busy = machine_busy_s() - busy0
    background = busy - server_cpu - sim_cpu - harness_cpu - (own_cpu_s() - own0)
    measured = {os.getpid(), *(p.pid for p in tree(bench.sim))}
    measured |= {p.pid for p in tree(server)} if server else set()
    stats = json.loads(urllib.request.urlopen(f"{bench.sim_url}/_sim/stats", timeout=5).read())
    report["server"] = (
        {
            "cpu_s": round(server_cpu, 3),
            "cpu_pct": round(100 * server_cpu / wall, 1),
            "rss_peak_mb": round(rss.peak_mb, 1) if server else None,
        }
        if server
        else None
    )
    report["upstream"] = {"cpu_pct": round(100 * sim_cpu / wall, 1), "stats": stats}
    report["machine"] = {
        "busy_pct_of_all_cores": round(100 * busy / (wall * (psutil.cpu_count() or 1)), 1),
        "background_cpu_pct": round(100 * max(background, 0.0) / wall, 1),
        "busiest_other_processes": busiest(everyone0, cpu_by_process(), wall, measured),
        "wall_s": round(wall, 2),
    }
    return report


# --- scenarios -------------------------------------------------------------------------


def _open_args(rate: int, plan: Plan, timeout_s: float) -> list[str]:
    options = f"--rate {rate} --duration {plan.open_duration_s}"
    return (options + f" --max-tokens {plan.open_tokens} --timeout {timeout_s}").split()


def _row_error(target: Target, scenario: str, point: int, exc: Exception) -> dict[str, Any]:
    log(f"{target.name} {scenario} {point} failed: {exc}")
    return {"target": target.name, "scenario": scenario, "point": point, "error": str(exc)}


def scenario_open_loop(bench: Bench, targets: list[Target], plan: Plan) -> list[dict[str, Any]]:
    """Non-streaming requests at fixed rates; every target is stopped at saturation."""
    rows = []
    litellm_in = any(t.name == "litellm" for t in targets)
    rates = sorted(set(plan.open_rates) | (set(plan.low_rates) if litellm_in else set()))
    timeout_s = max(5.0, plan.open_duration_s)
    for rate in rates:
        for target in targets:
            if not target.usable or target.saturated_at:
                continue
            low_only = rate in plan.low_rates and rate not in plan.open_rates
            if low_only and target.name not in ("direct", "litellm"):
                continue
            log(f"open loop: {target.name} at {rate} req/s")
            try:
                report = run_loadgen(
                    bench,
                    target,
                    "open",
                    _open_args(rate, plan, timeout_s),
                    timeout_s=plan.open_duration_s + timeout_s + 60,
                )
            except RuntimeError as exc:
                rows.append(_row_error(target, "open", rate, exc))
                continue
            report.update(target=target.name, scenario="open", point=rate)
            server = report["server"]
            answered = sum(s["count"] for s in report["by_status"].values())
            if server and answered:
                server["cpu_ms_per_request"] = round(1000 * server["cpu_s"] / answered, 3)
            rows.append(report)
            p50 = report["latency_ms"]["p50"]
            if (
                (report["error_rate"] or 0) > SATURATED_ERROR_RATE
                or (p50 is not None and p50 > SATURATED_P50_MS)
                or report["achieved_rps"] < SATURATED_ACHIEVED_SHARE * rate
            ):
                target.saturated_at = f"{rate} req/s"
    for target in targets:
        target.saturated_at = None
    return rows


def scenario_streams(bench: Bench, targets: list[Target], plan: Plan) -> list[dict[str, Any]]:
    """Concurrent streams; a level the direct run cannot drive stops the sweep there."""
    rows = []
    generation_s = plan.stream_tokens / plan.stream_tps
    answer_s = plan.stream_ttft_ms / 1000 + generation_s
    # Users stream back to back, so each answer's TTFT is a gap without tokens: even a
    # perfect path only reaches this share of C * tokens_per_s.
    reachable = generation_s / answer_s
    for level in plan.stream_levels:
        direct_limited = False
        for target in targets:
            if not target.usable or target.saturated_at:
                continue
            if direct_limited and level > 2000:
                continue
            log(f"streams: {target.name} at {level} concurrent")
            # Warm-up: tokens count once the last user of the ramp had its first token.
            options = f"--concurrency {level} --duration {plan.stream_duration_s}"
            options += f" --ramp {plan.stream_ramp_s} --warmup {plan.stream_ttft_ms / 1000 + 0.5}"
            options += f" --workers {1 if level <= 500 else 2} --timeout 30"
            try:
                report = run_loadgen(
                    bench,
                    target,
                    "stream",
                    options.split(),
                    timeout_s=plan.stream_duration_s + answer_s + 120,
                )
            except RuntimeError as exc:
                rows.append(_row_error(target, "stream", level, exc))
                continue
            report.update(target=target.name, scenario="stream", point=level)
            ideal = level * plan.stream_tps
            report["ideal_tokens_per_s"] = ideal
            report["pct_of_ideal"] = round(100 * (report["tokens_per_s"] or 0) / ideal, 1)
            rows.append(report)
            if target.name == "direct" and (
                (report["success_rate"] or 0) < 0.99
                or report["pct_of_ideal"] < 100 * DIRECT_OK_SHARE * reachable
            ):
                direct_limited = True
                report["note"] = "the harness and upstream alone cannot drive this level here"
            if (report["success_rate"] or 0) < STREAM_MIN_SUCCESS or (
                report["pct_of_ideal"] < 100 * STREAM_MIN_SHARE * reachable
            ):
                target.saturated_at = f"{level} streams"
    for target in targets:
        target.saturated_at = None
    return rows


def scenario_overload(bench: Bench, target: Target, plan: Plan) -> dict[str, Any]:
    """A burst far above a small replica limit: how much is refused, and how fast."""
    # The whole burst is sent within 0.25 s: open loop at burst / 0.25 s.
    rate = int(plan.overload_burst / 0.25)
    options = f"--rate {rate} --duration 0.25 --max-tokens {plan.overload_tokens} --timeout 30"
    report = run_loadgen(bench, target, "open", options.split(), timeout_s=120)
    report.update(target=target.name, scenario="overload", point=plan.overload_burst)
    refused = report["by_status"].get("503", {"count": 0, "retry_after": 0, "p100": None})
    report["overload"] = {
        "burst": report["scheduled"],
        "capacity": plan.overload_capacity,
        "queue": plan.overload_queue,
        "answered_200": report["by_status"].get("200", {}).get("count", 0),
        "refused_503": refused["count"],
        "refused_share": round(refused["count"] / max(report["scheduled"], 1), 3),
        "with_retry_after": refused["retry_after"],
        "max_time_to_503_ms": refused.get("p100"),
        "p50_time_to_503_ms": refused.get("p50"),
    }
    return report


# --- the report ------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _errors(report: dict[str, Any]) -> str:
    errors = report.get("errors") or {}
    return ", ".join(f"{k} {v}" for k, v in sorted(errors.items())) or "0"


def _notes(report: dict[str, Any]) -> str:
    notes = []
    if (report["harness"].get("worker_cpu_pct_max") or 0) > HARNESS_LIMIT_PCT:
        notes.append("harness-limited")
    if report.get("slipped_5ms"):
        notes.append(f"{report['slipped_5ms']} sends slipped > 5 ms")
    if (report["machine"]["busy_pct_of_all_cores"] or 0) > 90:
        notes.append("machine saturated")
    if report.get("note"):
        notes.append(report["note"])
    return "; ".join(notes)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


# fmt: off
OPEN_HEADER = [
    "Target", "Rate (req/s)", "Achieved (req/s)", "p50 ms", "p99 ms", "+p50 ms vs direct",
    "+p99 ms vs direct", "Errors", "Server CPU ms/req", "Upstream CPU %", "Harness CPU %",
    "Background CPU %", "Notes",
]
STREAM_HEADER = [
    "Target", "Streams", "Success", "Tokens/s", "% of ideal", "Tok/s per stream mean / p50",
    "TTFT ms p50 / p99", "Errors", "Server CPU %", "Server RSS peak MiB", "Upstream CPU %",
    "Harness CPU %", "Background CPU %", "Notes",
]
OVERLOAD_HEADER = [
    "Burst", "Replica max_concurrent", "Queue", "200", "503", "503 share",
    "503 with Retry-After", "Time to 503 p50 / max ms", "Harness CPU %",
]
# fmt: on


def _method(meta: dict[str, Any], plan: dict[str, Any]) -> list[str]:
    return [
        f"- Machine: {meta['cpu']}, {meta['cores']} cores, {meta['memory_gib']:.0f} GiB, "
        f"{meta['kernel']}; Python {meta['python']}.",
        "- Everything runs on this one machine over loopback: the upstream simulator, the "
        "gateway under test and the load generator share the same cores, so a gateway's "
        "figures include the competition for CPU with the harness. Every row records the "
        "CPU of each party; *background* is CPU used by other processes on the machine "
        "during the run (it should be near 0).",
        "- Upstream: `autan.devtools.upstream_sim` (aiohttp + uvloop). Non-streaming "
        f"scenario: no delay, {plan['open_tokens']} tokens per answer, so what is measured "
        "is the added latency. Streaming scenario: TTFT "
        f"{plan['stream_ttft_ms']:.0f} ms, {plan['stream_tokens']} tokens at "
        f"{plan['stream_tps']:.0f} tok/s per stream.",
        "- Load generator: `benchmarks/gateway/loadgen.py`, separate processes. Open loop: "
        "request *k* is sent at t0 + k/R whatever the previous answers; sends that slipped "
        "more than 5 ms behind schedule are counted. Streams: C users started over "
        f"{plan['stream_ramp_s']} s, each streaming answers back to back for "
        f"{plan['stream_duration_s']:.0f} s; tokens/s is counted over the steady window "
        "after the ramp.",
        f"- Versions: {', '.join(meta['versions'])}.",
    ]


def _open_rows(results: dict[str, Any], labels: dict[str, str]) -> list[list[str]]:
    runs = [r for r in results["open_loop"] if "error" not in r]
    direct = {r["point"]: r["latency_ms"] for r in runs if r["target"] == "direct"}
    rows = []
    for r in runs:
        lat = r["latency_ms"]
        base = direct.get(r["point"]) if r["target"] != "direct" else None
        added = {
            p: lat[p] - base[p] if base and lat[p] is not None and base[p] is not None else None
            for p in ("p50", "p99")
        }
        server = r.get("server") or {}
        # fmt: off
        rows.append([
            labels[r["target"]], _fmt(r["point"]), _fmt(r["achieved_rps"]),
            _fmt(lat["p50"], 2), _fmt(lat["p99"], 2), _fmt(added["p50"], 2),
            _fmt(added["p99"], 2), _errors(r), _fmt(server.get("cpu_ms_per_request"), 2),
            _fmt(r["upstream"]["cpu_pct"]), _fmt(r["harness"]["cpu_pct"]),
            _fmt(r["machine"]["background_cpu_pct"]), _notes(r),
        ])
        # fmt: on
    return rows


def _stream_rows(results: dict[str, Any], labels: dict[str, str]) -> list[list[str]]:
    rows = []
    for r in (r for r in results["streams"] if "error" not in r):
        server = r.get("server") or {}
        # fmt: off
        rows.append([
            labels[r["target"]], _fmt(r["point"]), _fmt(100 * (r["success_rate"] or 0)) + " %",
            _fmt(r["tokens_per_s"], 0), _fmt(r["pct_of_ideal"]) + " %",
            f"{_fmt(r['stream_tps_mean'])} / {_fmt(r['stream_tps_p50'])}",
            f"{_fmt(r['ttft_ms']['p50'], 0)} / {_fmt(r['ttft_ms']['p99'], 0)}",
            _errors(r), _fmt(server.get("cpu_pct")), _fmt(server.get("rss_peak_mb"), 0),
            _fmt(r["upstream"]["cpu_pct"]), _fmt(r["harness"]["cpu_pct"]),
            _fmt(r["machine"]["background_cpu_pct"]), _notes(r),
        ])
        # fmt: on
    return rows


def _overload_section(overload: dict[str, Any] | None) -> list[str]:
    if not overload or "overload" not in overload:
        return [f"Not run: {overload.get('error') if overload else 'Autan unavailable'}."]
    o = overload["overload"]
    # fmt: off
    row = [
        _fmt(o["burst"]), _fmt(o["capacity"]), _fmt(o["queue"]), _fmt(o["answered_200"]),
        _fmt(o["refused_503"]), _fmt(100 * o["refused_share"]) + " %",
        _fmt(o["with_retry_after"]),
        f"{_fmt(o['p50_time_to_503_ms'], 0)} / {_fmt(o['max_time_to_503_ms'], 0)}",
        _fmt(overload["harness"]["cpu_pct"]),
    ]
    # fmt: on
    met = o["refused_503"] and (o["max_time_to_503_ms"] or 0) <= 1000
    verdict = "met" if met else "missed"
    return [
        *_table(OVERLOAD_HEADER, [row]),
        "",
        f"Target (every excess request refused with a 503 within 1 s): {verdict}. "
        f"Non-200 outcomes: {_errors(overload)}.",
    ]


def render_markdown(results: dict[str, Any]) -> str:
    """The human-readable report."""
    labels = {t["name"]: t["label"] for t in results["targets"]}
    meta = results["meta"]
    kind = "quick smoke run" if meta["quick"] else "full run"
    out = [
        "# Gateway benchmark",
        "",
        f"Run {meta['date']} ({kind}), {meta['duration_s']:.0f} s in all, by "
        "`benchmarks/gateway/run.py`; the columns are explained in "
        "`benchmarks/gateway/README.md`.",
        "",
        "## Machine and method",
        "",
        *_method(meta, results["plan"]),
        "",
    ]
    for t in results["targets"]:
        if t.get("unavailable"):
            out += [f"**{t['label']} did not run:** {t['unavailable']}", ""]
    out += ["## Non-streaming, open loop", ""]
    out += _table(OPEN_HEADER, _open_rows(results, labels))
    out += _failed_rows(results["open_loop"], labels)
    out += ["", "## Streaming, concurrency sweep", ""]
    out += _table(STREAM_HEADER, _stream_rows(results, labels))
    out += _failed_rows(results["streams"], labels)
    out += ["", f"Context: {INRAE_REFERENCE}", ""]
    out += ["## Overload (Autan)", "", *_overload_section(results.get("overload"))]
    out += ["", "## Idle memory", ""]
    out += _table(
        ["Target", "Idle RSS MiB (process tree, after start, before load)", "Version"],
        [
            [t["label"], _fmt(t.get("idle_rss_mb"), 0), t.get("version") or "–"]
            for t in results["targets"]
            if t["name"] != "direct" and not t.get("unavailable")
        ],
    )
    out += ["", "## Caveats", "", *(f"- {c}" for c in results["caveats"])]
    return "\n".join(out) + "\n"


def _failed_rows(rows: list[dict[str, Any]], labels: dict[str, str]) -> list[str]:
    failed = [r for r in rows if "error" in r]
    if not failed:
        return []
    return ["", *(f"- {labels[r['target']]} at {r['point']}: failed: {r['error']}" for r in failed)]


def caveats(results: dict[str, Any]) -> list[str]:
    """Plain-text warnings derived from the measurements."""
    notes = [
        "2 cores for everything: at high stream counts the upstream simulator and the load "
        "generator need a large share of the machine themselves (see their CPU columns), "
        "so absolute figures are lower bounds for a gateway given its own cores; compare "
        "targets with each other, row by row.",
        "The upstream simulator costs ~20 µs of CPU per streamed token (half of it in the "
        "kernel's loopback TCP), the streaming load generator about as much.",
    ]
    runs = [r for r in (*results["open_loop"], *results["streams"]) if "error" not in r]
    limited = [r for r in runs if (r["harness"].get("worker_cpu_pct_max") or 0) > HARNESS_LIMIT_PCT]
    if limited:
        notes.append(
            f"{len(limited)} run(s) had a load-generator process above {HARNESS_LIMIT_PCT:.0f} % "
            "of a core: there the harness, not the server, is the limit (marked "
            "'harness-limited')."
        )
    noisy = [r for r in runs if r["machine"]["background_cpu_pct"] > 20]
    if noisy:
        commands = sorted(
            {p["command"] for r in noisy for p in r["machine"]["busiest_other_processes"]}
        )
        notes.append(
            f"{len(noisy)} run(s) saw more than 20 % of a core used by other processes on the "
            "machine: treat those rows as noisy. Busiest of them: "
            + ("; ".join(f"`{c}`" for c in commands[:8]) or "short-lived processes")
            + "."
        )
    if any(r.get("slipped_5ms") for r in runs):
        notes.append("Some open-loop sends slipped > 5 ms behind schedule (see Notes).")
    return notes


# --- orchestration ---------------------------------------------------------------------


def _machine_meta(quick: bool, versions: list[str]) -> dict[str, Any]:
    cpu = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": quick,
        "cpu": cpu,
        "cores": psutil.cpu_count(),
        "memory_gib": psutil.virtual_memory().total / 2**30,
        "kernel": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
    }


@contextlib.contextmanager
def terminate_on_signals() -> Iterator[None]:
    """Turn SIGTERM into SystemExit, so that the ``finally`` blocks stop every child."""
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# Autan's gateway-wide cap on requests in progress, raised above the largest sweep; the one
# benchmark user sends thousands of requests a minute, so its quota is lifted (0 = unlimited;
# the per-request rule lookup still runs).
GATEWAY_ENV = {
    "AUTAN_GATEWAY__MAX_CONNECTIONS": "20000",
    "AUTAN_QUOTAS__REQUESTS_PER_MINUTE": "0",
}


def launch_target(procs: Processes, name: str, work: Path, upstream: str) -> Target:
    """Start target ``name`` without waiting for it."""
    if name == "direct":
        return Target("direct", "direct (no gateway)", upstream)
    log(f"starting {name}")
    if name.startswith("bare"):
        target = start_bare(procs, name, upstream)
    elif name == "litellm":
        target = start_litellm(procs, work, upstream)
    else:
        workers = 2 if name == "autan-2w" else 1
        label = "Autan, 2 workers" if workers == 2 else "Autan"
        target = start_autan(
            procs, name, label, work, upstream,
            workers=workers, max_concurrent=5000, gateway_env=GATEWAY_ENV,
        )  # fmt: skip
    return target


def await_target(target: Target) -> None:
    """Wait until ``target`` relays, then read its idle memory."""
    if target.unavailable is None:
        wait_ready(target, 90)
    if target.process is not None and target.unavailable is None:
        time.sleep(1.0)  # let start-up work finish before reading the idle RSS
        target.idle_rss_mb = round(tree_rss_mb(target.process), 1)


def launch_overload_target(procs: Processes, plan: Plan, work: Path, upstream: str) -> Target:
    """Start an Autan with a small replica limit and queue (idle until the overload phase:
    started with the others, its start-up overlaps theirs)."""
    env = {
        **GATEWAY_ENV,
        "AUTAN_GATEWAY__QUEUE_SIZE": str(plan.overload_queue),
        "AUTAN_GATEWAY__QUEUE_TIMEOUT": str(plan.overload_queue_timeout_s),
    }
    return start_autan(
        procs, "autan-overload", "Autan (small limits)", work, upstream,
        workers=1, max_concurrent=plan.overload_capacity, gateway_env=env,
    )  # fmt: skip


def overload_phase(bench: Bench, plan: Plan, target: Target) -> dict[str, Any]:
    """Burst the small-limits Autan."""
    if target.unavailable is None:
        wait_ready(target, 90)
    if target.unavailable is not None or target.process is None:
        return {"error": target.unavailable}
    bench.servers = [target.process]
    try:
        return scenario_overload(bench, target, plan)
    except RuntimeError as exc:
        return {"error": str(exc)}


def run(plan: Plan, quick: bool, wanted: list[str], out_dir: Path) -> dict[str, Any]:
    """Run every scenario and return the results."""
    started = time.monotonic()
    work = WORK_DIR / datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    work.mkdir(parents=True)
    procs = Processes(work)
    sim_port = free_port()
    upstream = f"http://{HOST}:{sim_port}/v1"
    results: dict[str, Any] = {"plan": dataclasses.asdict(plan), "work_dir": str(work)}
    targets: list[Target] = []
    with terminate_on_signals():
        try:
            sim = start_sim(procs, sim_port, 0, 0, plan.open_tokens)
            bench = Bench(work, sim, f"http://{HOST}:{sim_port}", [])
            # LiteLLM first: its ~10 s of imports then overlap the others' start-up. The
            # multi-worker Autan starts alone, last: uvicorn kills a worker that does not
            # answer its health check within 5 s, and importing Autan takes longer than
            # that when start-ups compete for the two cores (its workers were restarted in
            # a loop).
            early = [name for name in wanted if name != "autan-2w"]
            launched = {
                name: launch_target(procs, name, work, upstream)
                for name in sorted(early, key=lambda name: name != "litellm")
            }
            overload_target = (
                launch_overload_target(procs, plan, work, upstream) if "autan" in wanted else None
            )
            for name in early:
                await_target(launched[name])
            if "autan-2w" in wanted:
                launched["autan-2w"] = launch_target(procs, "autan-2w", work, upstream)
                await_target(launched["autan-2w"])
            targets = [launched[name] for name in wanted]
            bench.servers = [
                t.process for t in targets if t.process is not None and t.unavailable is None
            ]

            results["open_loop"] = scenario_open_loop(bench, targets, plan)

            procs.stop(sim)
            bench.sim = start_sim(
                procs, sim_port, plan.stream_ttft_ms, plan.stream_tps, plan.stream_tokens
            )
            for target in targets:  # a restarted upstream: gateways must reconnect first
                if target.usable:
                    wait_ready(target, 30)
            results["streams"] = scenario_streams(bench, targets, plan)

            results["overload"] = None
            if overload_target is not None:
                # The other servers are idle now: stopping them would only cost time.
                procs.stop(bench.sim)
                bench.sim = start_sim(procs, sim_port, 0, plan.stream_tps, plan.overload_tokens)
                results["overload"] = overload_phase(bench, plan, overload_target)
        finally:
            procs.stop_all()

    versions = [
        f"aiohttp {_version('aiohttp')}",
        f"uvloop {_version('uvloop')}",
        *(t.version for t in targets if t.version),
    ]
    results["meta"] = _machine_meta(quick, list(dict.fromkeys(versions)))  # deduplicated
    results["meta"]["duration_s"] = time.monotonic() - started
    results["targets"] = [
        {
            "name": t.name,
            "label": t.label,
            "idle_rss_mb": t.idle_rss_mb,
            "version": t.version,
            "unavailable": t.unavailable,
        }
        for t in targets
    ]
    results["caveats"] = caveats(results)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "gateway.json").write_text(json.dumps(results, indent=2) + "\n")
    (out_dir / "gateway.md").write_text(render_markdown(results))
    # The scratch dir holds server logs and raw load-generator output: keep it only when
    # something went wrong.
    if not any(t.unavailable for t in targets):
        shutil.rmtree(work, ignore_errors=True)
    return results


# --- the bare relay --------------------------------------------------------------------


def serve_bare_relay(upstream: str, port: int, loop: str) -> None:
    """The baseline relay: FastAPI + uvicorn + one aiohttp session, no auth, raw bytes."""
    session: dict[str, aiohttp.ClientSession] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        session["upstream"] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=None)
        )
        yield
        await session["upstream"].close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/v1/chat/completions")
    async def relay(request: Request) -> Response:
        upstream_response = await session["upstream"].post(
            f"{upstream}/chat/completions",
            data=await request.body(),
            headers={"Content-Type": "application/json"},
        )
        media_type = upstream_response.headers.get("Content-Type", "application/json")
        if not media_type.startswith("text/event-stream"):
            body = await upstream_response.read()
            upstream_response.release()
            return Response(body, upstream_response.status, media_type=media_type)

        async def chunks() -> AsyncIterator[bytes]:
            # Starlette stops iterating when the client leaves; release() then drops the
            # upstream connection, which cancels the upstream answer too.
            try:
                async for chunk in upstream_response.content.iter_any():
                    yield chunk
            finally:
                upstream_response.release()

        return StreamingResponse(chunks(), upstream_response.status, media_type=media_type)

    uvicorn.run(app, host=HOST, port=port, loop=loop, log_level="warning", access_log=False)


def main() -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (about 2 min)")
    parser.add_argument(
        "--targets", default=",".join(DEFAULT_TARGETS), help=f"comma-separated, from {ALL_TARGETS}"
    )
    parser.add_argument("--stream-tps", type=float, help="tokens/s per stream (upstream)")
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--serve-bare-relay", metavar="UPSTREAM", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--loop", default="auto", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare_relay:
        serve_bare_relay(args.serve_bare_relay.rstrip("/"), args.port, args.loop)
        return
    wanted = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(wanted) - set(ALL_TARGETS)
    if unknown:
        parser.error(f"unknown targets: {sorted(unknown)}")
    if "direct" not in wanted:
        wanted.insert(0, "direct")  # every comparison is against it
    # Children inherit it: thousands of streams need as many sockets in every process.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    plan = QUICK if args.quick else FULL
    if args.stream_tps:
        plan = dataclasses.replace(plan, stream_tps=args.stream_tps)
    run(plan, args.quick, wanted, args.out_dir)
    log(f"wrote {args.out_dir / 'gateway.md'} and gateway.json")


if __name__ == "__main__":
    main()
