"""Capacity of a deployment: `autan bench load` against real server processes.

Starts PostgreSQL (pgserver, in a temporary folder), a `redis-server`, the upstream simulator
(`autan.devtools.upstream_sim`: a first token after --ttft-ms, then --tokens at
--tokens-per-s) and two `autan serve` processes on different ports sharing the database,
Redis, the data folder and the secret key; the planner spreads every request over both
(client-side round robin). Then the same ramp on SQLite with one process, for comparison.
Accounts are made by `autan bench load --create-users N --org bench` (one shared password
hash, written to a users file), then the planner runs as its own process, as an operator
would run it. Needs no shared data.

    .venv/bin/python -m benchmarks.load.run --users 200 --ramp 50,100,200 --step-seconds 60
    # the issue's target, on a quiet machine (4 planner processes by default at 2,000):
    .venv/bin/python -m benchmarks.load.run --users 2000 --ramp 250,500,1000,1500,2000

Results: benchmarks/results/load.md, load-postgresql.{md,json,png}, load-sqlite.{...}.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import math
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from tests.support.processes import SimUpstream, start_sim
from tests.support.redis_fixtures import start_redis

from autan.llm.config import ModelConfig, ModelsConfig, ModelType, ReplicaConfig, dump_models_file

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
AUTAN = [sys.executable, "-m", "autan"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def models_file(folder: Path, sim: SimUpstream, max_concurrent: int) -> Path:
    """The simulator as the deployment's chat model and embedding model."""
    replicas = [ReplicaConfig(url=sim.api_url)]
    path = folder / "models.yaml"
    dump_models_file(
        ModelsConfig(
            models=[
                ModelConfig(
                    id="sim-chat",
                    context_length=4096,
                    max_concurrent=max_concurrent,
                    replicas=replicas,
                ),
                ModelConfig(
                    id="sim-embed",
                    type=ModelType.EMBEDDING,
                    dimensions=384,
                    max_concurrent=max_concurrent,
                    replicas=replicas,
                ),
            ]
        ),
        path,
    )
    return path


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"autan serve exited: {log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"autan serve at {url} did not become healthy")


@contextlib.contextmanager
def deployment(
    env: dict[str, str], processes: int, folder: Path, keep_logs: Path | None = None
) -> Iterator[list[str]]:
    """`autan migrate`, then `processes` × `autan serve`; their base URLs."""
    subprocess.run([*AUTAN, "migrate"], env=env, check=True, capture_output=True)
    servers: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for i in range(processes):
            port = free_port()
            log = folder / f"serve-{i}.log"
            with log.open("wb") as out:
                servers.append(
                    subprocess.Popen(
                        [*AUTAN, "serve", "--host", "127.0.0.1", "--port", str(port)]
                        + ["--no-migrate"],
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
            urls.append(f"http://127.0.0.1:{port}")
        for url, server, i in zip(urls, servers, range(processes), strict=True):
            wait_healthy(url, server, folder / f"serve-{i}.log")
        yield urls
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        if keep_logs is not None:
            # The temporary folder goes with the run; the servers' tracebacks are the evidence.
            keep_logs.mkdir(parents=True, exist_ok=True)
            for i in range(processes):
                shutil.copy(folder / f"serve-{i}.log", keep_logs / f"{folder.name}-serve-{i}.log")


def planner(env: dict[str, str], urls: list[str], args: argparse.Namespace, name: str) -> None:
    """Create the accounts, then run `autan bench load` against the deployment."""
    users_file = Path(env["AUTAN_DATA_DIR"]) / "bench-users.txt"
    subprocess.run(
        [*AUTAN, "bench", "load", "--create-users", str(args.users), "--org", "bench"]
        + ["--users-file", str(users_file)],
        env=env,
        check=True,
    )
    command = [*AUTAN, "bench", "load", "--users", str(args.users), "--ramp", args.ramp]
    for url in urls:
        command += ["--url", url]
    command += [
        *("--users-file", str(users_file), "--step-seconds", str(args.step_seconds)),
        *("--think-seconds", str(args.think_seconds), "--attach-share", str(args.attach_share)),
        *("--upstream-ttft-ms", str(args.ttft_ms), "--timeout", str(args.timeout)),
        *("--output", str(RESULTS), "--name", name),
        # One planner process reads ~30k tokens/s: about 600 people at the default pace.
        *("--client-processes", str(args.client_processes or math.ceil(args.users / 600))),
    ]
    subprocess.run(command, env=env, check=True)


def base_env(folder: Path, sim: SimUpstream, args: argparse.Namespace) -> dict[str, str]:
    data = folder / "data"
    data.mkdir(parents=True)
    return {
        **os.environ,
        "AUTAN_DATA_DIR": str(data),
        "AUTAN_MODELS_FILE": str(models_file(folder, sim, args.max_concurrent)),
        # Shared by the processes: a session signed by one is read by the other.
        "AUTAN_SECRET_KEY": secrets.token_urlsafe(32),
        # The planner measures capacity; per-person quotas would refuse its fast talkers.
        "AUTAN_QUOTAS__ENABLED": "false",
        "AUTAN_CHAT__MAX_ANSWER_TOKENS": str(args.tokens),
        "AUTAN_LOG_LEVEL": "WARNING",
    }


def on_postgresql(folder: Path, sim: SimUpstream, args: argparse.Namespace) -> None:
    import pgserver

    pg: Any = pgserver.get_server(str(folder / "pg"), cleanup_mode="stop")  # type: ignore[attr-defined]
    redis = start_redis()
    try:
        pg.psql("CREATE DATABASE bench;")
        env = base_env(folder / "postgresql", sim, args)
        env["AUTAN_DATABASE_URL"] = f"postgresql+asyncpg://postgres@/bench?host={folder / 'pg'}"
        env["AUTAN_REDIS_URL"] = redis.url
        with deployment(env, args.processes, folder / "postgresql", args.keep_logs) as urls:
            planner(env, urls, args, "load-postgresql")
    finally:
        redis.stop()
        pg.cleanup()


def on_sqlite(folder: Path, sim: SimUpstream, args: argparse.Namespace) -> None:
    env = base_env(folder / "sqlite", sim, args)
    env["AUTAN_DATABASE_URL"] = f"sqlite+aiosqlite:///{folder / 'sqlite' / 'autan.db'}"
    with deployment(env, 1, folder / "sqlite", args.keep_logs) as urls:
        planner(env, urls, args, "load-sqlite")


def summary(args: argparse.Namespace, engines: list[str], load_before: float) -> str:
    """load.md: how the run was made, then each engine's table and plot."""
    label = "full run" if args.users >= 2000 else "SMALL run: development machine, busy"
    parts = [
        f"# Load: the chat path under simulated staff ({label})\n",
        f"`python -m benchmarks.load.run --users {args.users} --ramp {args.ramp} "
        f"--step-seconds {args.step_seconds:g}`; {platform.machine()}, "
        f"{os.cpu_count()} cores (load average {load_before:.1f} before the run: the planner, "
        f"servers and simulator share them), Python {platform.python_version()}, "
        f"{datetime.date.today().isoformat()}.\n",
        f"Upstream simulator: first token after {args.ttft_ms:g} ms, {args.tokens} tokens at "
        f"{args.tokens_per_s:g} tokens/s; {args.max_concurrent} concurrent streams per model "
        f"before Autan queues then refuses (503). People think {args.think_seconds:g} s on "
        f"average between questions, {args.attach_share:.0%} attach a file first. Success = "
        "complete streamed answer, or a refusal by admission control (503 with Retry-After, "
        "or the `model_overloaded` event); timeouts and other errors count against it. TTFT "
        "added = first answer token seen by the client - the simulator's first-token delay.\n",
    ]
    for engine in engines:
        text = (RESULTS / f"{engine}.md").read_text()
        parts.append(f"## {engine}\n\n" + text.split("\n\n", 2)[-1])
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--ramp", default="50,100,200")
    parser.add_argument("--step-seconds", type=float, default=60)
    parser.add_argument("--think-seconds", type=float, default=5)
    parser.add_argument("--attach-share", type=float, default=0.1)
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--ttft-ms", type=float, default=50)
    parser.add_argument("--tokens-per-s", type=float, default=50)
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--max-concurrent", type=int, default=512)
    parser.add_argument("--client-processes", type=int, default=0, help="0: one per 600 users")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-postgresql", action="store_true")
    parser.add_argument("--keep-logs", type=Path, help="copy the servers' logs to this folder")
    args = parser.parse_args()
    # A timeout's SIGTERM unwinds like Ctrl-C, so the servers started here are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if shutil.which("redis-server") is None:
        sys.exit("redis-server is needed: apt-get install redis-server")
    RESULTS.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    sim = start_sim(
        *("--ttft-ms", str(args.ttft_ms), "--tokens-per-s", str(args.tokens_per_s)),
        *("--tokens", str(args.tokens), "--model", "sim-chat"),
    )
    engines: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="autan-load-") as tmp:
            if not args.skip_postgresql:
                on_postgresql(Path(tmp), sim, args)
                engines.append("load-postgresql")
            if not args.skip_sqlite:
                on_sqlite(Path(tmp), sim, args)
                engines.append("load-sqlite")
    finally:
        sim.stop()
    (RESULTS / "load.md").write_text(summary(args, engines, load_before))
    print((RESULTS / "load.md").read_text())  # noqa: T201 - the benchmark's report


if __name__ == "__main__":
    main()
