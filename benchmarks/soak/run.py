"""Soak benchmark: thousands of simulated people for minutes against a real `autan serve`.

The server runs as a subprocess (SQLite, or PostgreSQL from pgserver) in front of two
upstream simulator replicas (`autan.devtools.upstream_sim --text-only`, which answers 500 to
image and audio parts as llama.cpp does without a multimodal projector). People of three
organisations use API keys, a few sign in with a password and chat through the page; they
chat (streamed) and search their organisation's collection at a human pace (think time).
One in a hundred is hostile: image and audio parts, tools named with a number, 1 MB
embedding inputs, huge integers, wrong passwords.

Each minute: the RSS of the server and its children, requests per second, replicas seen
down, and for the well-behaved people the errors other than 429/503 (target 0) and the time
to first token (p50/p95). Printed and written to benchmarks/results/soak.md.

    .venv/bin/python -m benchmarks.soak.run [--users 2000] [--minutes 10] \\
        [--database sqlite|postgresql] [--label "..."]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import platform
import random
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import psutil

from autan.accounts import service as accounts
from autan.accounts.models import Role
from autan.core.db import create_engine, session_factory, utcnow
from autan.core.migrate import upgrade
from autan.llm.config import (
    ModelConfig,
    ModelsConfig,
    ModelType,
    ReplicaConfig,
    dump_models_file,
)

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "soak.md"
ORGS = ("agri", "culture", "sante")
PASSWORD = "correct horse battery staple"
QUESTIONS = (
    "Quels sont les délais pour refaire une carte d'identité ?",
    "Comment échanger un permis de conduire étranger ?",
    "Résume les règles du télétravail dans la fonction publique.",
    "Rédige un courriel pour annoncer une réunion de service.",
    "Quelles pièces fournir pour une demande de passeport ?",
)
DOCUMENT = """# Carte d'identité

## Délais de fabrication

Le délai de fabrication d'une carte nationale d'identité dépend de la mairie et de la
période de l'année. Il faut compter en général entre deux et six semaines.

## Coût

La carte d'identité est gratuite lors d'une première demande ou d'un renouvellement.
En cas de perte ou de vol, un timbre fiscal de 25 euros est demandé.
"""
HOSTILE_KINDS = ("image_url", "input_audio", "numeric_tool", "huge_embedding", "huge_ints",
                 "wrong_password")  # fmt: skip


@dataclass
class Person:
    email: str
    org: str
    key: str
    signs_in: bool = False
    hostile: bool = False


@dataclass
class Minute:
    """What happened during one minute of the run."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0  # well-behaved requests that failed otherwise than 429/503
    ttft: list[float] = field(default_factory=list)
    rss_mb: float = 0.0
    replicas_down: int = 0  # most replicas seen down at once in the minute


@dataclass
class Run:
    started: float
    minutes: list[Minute]
    hostile: Counter[tuple[str, int]] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)

    def minute(self) -> Minute:
        index = min(int((time.monotonic() - self.started) // 60), len(self.minutes) - 1)
        return self.minutes[index]

    def done(self, status: int, *, well_behaved: bool, detail: str = "") -> None:
        minute = self.minute()
        minute.requests += 1
        minute.statuses[status] += 1
        if well_behaved and status not in (200, 201, 202, 303, 429, 503):
            minute.errors += 1
            if len(self.error_samples) < 20:
                self.error_samples.append(f"{status} {detail[:200]}")


# --- setting up ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_sim(*args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "autan.devtools.upstream_sim", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "listening on" not in line:
        process.kill()
        raise RuntimeError("the upstream simulator did not start")
    return process, line.rsplit(" ", 1)[1].strip()


@contextlib.contextmanager
def database(kind: str, folder: Path) -> Iterator[str]:
    """A database URL: a SQLite file, or a PostgreSQL database of a pgserver in `folder`."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / 'soak.db'}"
        return
    import pgserver

    root = folder / "pg"
    folder.chmod(0o755)  # PostgreSQL runs as pgserver's own user when we are root
    server = pgserver.get_server(root, cleanup_mode="stop")  # type: ignore[attr-defined]
    try:
        server.psql("CREATE DATABASE soak")
        yield f"postgresql+asyncpg://postgres@/soak?host={root}"
    finally:
        server.cleanup()


async def populate(url: str, users: int, signing_in: int) -> list[Person]:
    """People across the organisations, each with an API key; a few with a password."""
    engine = create_engine(url)
    await upgrade(engine)
    people: list[Person] = []
    rng = random.Random(7)
    # Hostile people use API keys (and their own address for wrong passwords).
    hostile = set(
        rng.sample(range(signing_in, users), min(users - signing_in, max(3, users // 100)))
    )
    try:
        async with session_factory(engine)() as session:
            for i in range(users):
                org = ORGS[i % len(ORGS)]
                email = f"agent{i}@{org}.gouv.fr"
                signs_in = i < signing_in
                role = Role.REFERENT if i < len(ORGS) else Role.MEMBER
                user = await accounts.create_user(
                    session, email, role=role, org_slug=org, password=PASSWORD if signs_in else None
                )
                user.charter_accepted_version = 1
                user.charter_accepted_at = utcnow()
                key = (await accounts.create_api_key(session, email)).secret
                people.append(Person(email, org, key, signs_in, i in hostile))
            await session.commit()
    finally:
        await engine.dispose()
    return people


@contextlib.asynccontextmanager
async def autan_server(
    url: str, folder: Path, sims: list[str], port: int
) -> AsyncIterator[subprocess.Popen[bytes]]:
    chat = ModelConfig(
        id="m",
        context_length=4096,
        max_concurrent=128,
        replicas=[ReplicaConfig(url=f"{s}/v1", name=f"sim-{i}") for i, s in enumerate(sims)],
    )
    embeddings = ModelConfig(
        id="e5",
        type=ModelType.EMBEDDING,
        dimensions=384,
        context_length=512,
        replicas=[ReplicaConfig(url=f"{s}/v1", name=f"sim-e-{i}") for i, s in enumerate(sims)],
    )
    models_file = folder / "models.yaml"
    dump_models_file(ModelsConfig(models=[chat, embeddings]), models_file)
    env = {
        **os.environ,
        "AUTAN_DATABASE_URL": url,
        "AUTAN_MODELS_FILE": str(models_file),
        "AUTAN_DATA_DIR": str(folder / "data"),
        "AUTAN_SECRET_KEY": "soak-" + "x" * 40,
        "AUTAN_LOG_LEVEL": "WARNING",
        "AUTAN_CHAT__MAX_ANSWER_TOKENS": "200",
    }
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "autan", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        async with aiohttp.ClientSession() as client:
            deadline = time.monotonic() + 120
            while True:
                with contextlib.suppress(aiohttp.ClientError):
                    async with client.get(f"http://127.0.0.1:{port}/health") as response:
                        if response.status == 200:
                            break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"autan serve did not start; see {folder / 'server.log'}")
                await asyncio.sleep(0.5)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


async def shared_collections(
    client: aiohttp.ClientSession, base: str, people: list[Person]
) -> dict[str, str]:
    """One collection per organisation, shared with it, holding one ingested document."""
    collections: dict[str, str] = {}
    for org in ORGS:
        referent = next(p for p in people if p.org == org)
        headers = {"Authorization": f"Bearer {referent.key}"}
        async with client.post(
            f"{base}/v1/collections",
            json={"name": f"fiches {org}", "visibility": "organisation"},
            headers=headers,
        ) as response:
            collections[org] = (await response.json())["id"]
        form = aiohttp.FormData()
        form.add_field("collection", collections[org])
        form.add_field("file", DOCUMENT.encode(), filename="carte.md")
        async with client.post(f"{base}/v1/documents", data=form, headers=headers) as response:
            document = (await response.json())["id"]
        for _ in range(600):
            async with client.get(f"{base}/v1/documents/{document}", headers=headers) as response:
                if (await response.json())["status"] in ("ready", "failed"):
                    break
            await asyncio.sleep(0.2)
    return collections


# --- people --------------------------------------------------------------------------------


def think(rng: random.Random) -> float:
    """Seconds a person spends reading and writing before the next request."""
    return min(120.0, max(3.0, rng.expovariate(1 / 30)))


async def api_chat(client: aiohttp.ClientSession, base: str, person: Person, run: Run,
                   rng: random.Random) -> None:  # fmt: skip
    body = {
        "model": "m",
        "stream": True,
        "messages": [{"role": "user", "content": rng.choice(QUESTIONS)}],
    }
    started = time.monotonic()
    headers = {"Authorization": f"Bearer {person.key}"}
    async with client.post(f"{base}/v1/chat/completions", json=body, headers=headers) as response:
        if response.status != 200:
            run.done(response.status, well_behaved=True, detail=await response.text())
            return
        first: float | None = None
        tail = b""
        async for line in response.content:
            if first is None and line.startswith(b"data: {"):
                first = time.monotonic() - started
            tail = line if line.strip() else tail
        if first is not None:
            run.minute().ttft.append(first)
        broken = b"[DONE]" not in tail
        run.done(502 if broken else 200, well_behaved=True, detail=tail.decode(errors="replace"))


async def api_search(client: aiohttp.ClientSession, base: str, person: Person, run: Run,
                     rng: random.Random, collection: str) -> None:  # fmt: skip
    body = {"prompt": rng.choice(QUESTIONS), "collections": [collection], "k": 5}
    headers = {"Authorization": f"Bearer {person.key}"}
    async with client.post(f"{base}/v1/search", json=body, headers=headers) as response:
        run.done(response.status, well_behaved=True, detail=await response.text())


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    return found.group(1) if found else ""


async def sign_in(client: aiohttp.ClientSession, base: str, email: str, password: str) -> int:
    async with client.get(f"{base}/login") as page:
        token = hidden(await page.text(), "form_token")
    data = {"form_token": token, "email": email, "password": password}
    async with client.post(f"{base}/login", data=data, allow_redirects=False) as response:
        return response.status


async def page_chat(client: aiohttp.ClientSession, base: str, run: Run, rng: random.Random,
                    csrf: str) -> None:  # fmt: skip
    started = time.monotonic()
    body = {"action": "send", "content": rng.choice(QUESTIONS)}
    headers = {"X-CSRF-Token": csrf, "Content-Type": "application/json"}
    async with client.post(f"{base}/chat/turn", data=orjson.dumps(body), headers=headers) as reply:
        if reply.status != 200:
            run.done(reply.status, well_behaved=True, detail=await reply.text())
            return
        first: float | None = None
        ended = b""
        async for line in reply.content:
            if first is None and line.startswith(b"event: delta"):
                first = time.monotonic() - started
            if line.startswith(b"event: "):
                ended = line.strip()
        if first is not None:
            run.minute().ttft.append(first)
        run.done(200 if ended in (b"event: done", b"event: title") else 502, well_behaved=True,
                 detail=ended.decode())  # fmt: skip


async def well_behaved(base: str, person: Person, run: Run, deadline: float, ramp: float,
                       collections: dict[str, str], seed: int) -> None:  # fmt: skip
    rng = random.Random(seed)
    await asyncio.sleep(rng.uniform(0, ramp))
    jar = aiohttp.CookieJar(unsafe=True)
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=timeout) as client:
        csrf = ""
        if person.signs_in:
            status = await sign_in(client, base, person.email, PASSWORD)
            run.done(status, well_behaved=True, detail="sign-in")
            async with client.get(f"{base}/") as page:
                csrf = hidden(await page.text(), "csrf_token")
        while time.monotonic() < deadline:
            try:
                if rng.random() < 0.75:
                    if csrf:
                        await page_chat(client, base, run, rng, csrf)
                    else:
                        await api_chat(client, base, person, run, rng)
                else:
                    await api_search(client, base, person, run, rng, collections[person.org])
            except (aiohttp.ClientError, TimeoutError) as exc:
                run.done(599, well_behaved=True, detail=repr(exc))
            await asyncio.sleep(min(think(rng), max(0.0, deadline - time.monotonic())))


def hostile_request(kind: str, person: Person) -> tuple[str, dict[str, Any]]:
    """A hostile request: the path and the JSON body (or form, for passwords)."""
    text = {"type": "text", "text": "Décris ceci."}
    if kind == "image_url":
        part = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
        return "/v1/chat/completions", {"model": "m", "messages": [
            {"role": "user", "content": [text, part]}]}  # fmt: skip
    if kind == "input_audio":
        part = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
        return "/v1/chat/completions", {"model": "m", "messages": [
            {"role": "user", "content": [text, part]}]}  # fmt: skip
    if kind == "numeric_tool":
        tool = {"type": "function", "function": {"name": "123", "parameters": {"type": "object"}}}
        return "/v1/chat/completions", {"model": "m", "tools": [tool], "messages": [
            {"role": "user", "content": "Appelle l'outil."}]}  # fmt: skip
    if kind == "huge_embedding":
        return "/v1/embeddings", {"model": "e5", "input": "mot " * 262_144}  # 1 MiB
    if kind == "huge_ints":
        return "/v1/chat/completions", {"model": "m", "max_tokens": 10**40, "n": 10**30,
            "seed": -(10**50), "messages": [{"role": "user", "content": "Bonjour"}]}  # fmt: skip
    return "/login", {"email": person.email, "password": "wrong password"}


async def hostile(base: str, person: Person, run: Run, deadline: float, ramp: float,
                  seed: int) -> None:  # fmt: skip
    rng = random.Random(seed)
    await asyncio.sleep(rng.uniform(0, ramp))
    timeout = aiohttp.ClientTimeout(total=120)
    # unsafe: keep cookies of an IP address (the sign-in form's token), as a browser does.
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(timeout=timeout, cookie_jar=jar) as client:
        for turn in range(seed, seed + 10**9):
            if time.monotonic() >= deadline:
                break
            kind = HOSTILE_KINDS[turn % len(HOSTILE_KINDS)]  # every kind, in turn
            path, body = hostile_request(kind, person)
            try:
                if kind == "wrong_password":
                    for _ in range(5):
                        status = await sign_in(client, base, body["email"], body["password"])
                else:
                    headers = {"Authorization": f"Bearer {person.key}"}
                    async with client.post(
                        f"{base}{path}",
                        data=json.dumps(body).encode(),  # orjson refuses integers past 64 bits
                        headers={**headers, "Content-Type": "application/json"},
                    ) as response:
                        await response.read()
                        status = response.status
            except (aiohttp.ClientError, TimeoutError):
                status = 599
            run.done(status, well_behaved=False)
            run.hostile[(kind, status)] += 1
            await asyncio.sleep(min(rng.uniform(5, 15), max(0.0, deadline - time.monotonic())))


# --- measuring -----------------------------------------------------------------------------


def rss_mb(process: psutil.Process) -> float:
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total / 2**20


async def sample(base: str, server: psutil.Process, run: Run, deadline: float) -> None:
    """Every 5 s: the server's RSS and how many replicas /health shows down."""
    async with aiohttp.ClientSession() as client:
        while time.monotonic() < deadline:
            minute = run.minute()
            minute.rss_mb = max(minute.rss_mb, rss_mb(server))
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, KeyError):
                async with client.get(f"{base}/health") as response:
                    health = await response.json()
                down = sum(
                    replica["state"] != "up"
                    for model in health["models"].values()
                    for replica in model["replicas"]
                )
                minute.replicas_down = max(minute.replicas_down, down)
            await asyncio.sleep(5)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def table(run: Run) -> list[str]:
    rows = [
        "| minute | RSS server+children (MB) | requests/s | 429 | 503 | replicas down (max) "
        "| well-behaved errors (not 429/503) | TTFT p50 (ms) | TTFT p95 (ms) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i, m in enumerate(run.minutes, 1):
        p50, p95 = percentile(m.ttft, 0.5), percentile(m.ttft, 0.95)
        rows.append(
            f"| {i} | {m.rss_mb:.0f} | {m.requests / 60:.1f} | {m.statuses[429]} "
            f"| {m.statuses[503]} | {m.replicas_down} | {m.errors} "
            f"| {'-' if p50 is None else f'{p50 * 1000:.0f}'} "
            f"| {'-' if p95 is None else f'{p95 * 1000:.0f}'} |"
        )
    return rows


def report(run: Run, args: argparse.Namespace, people: list[Person]) -> str:
    errors = sum(m.errors for m in run.minutes)
    all_ttft = [t for m in run.minutes for t in m.ttft]
    hostile_rows = ["| hostile request | status | count |", "|---|---:|---:|"]
    for (kind, status), count in sorted(run.hostile.items()):
        hostile_rows.append(f"| {kind} | {status} | {count} |")
    samples = "\n".join(f"- `{s}`" for s in run.error_samples) or "- none"
    p50, p95 = percentile(all_ttft, 0.5), percentile(all_ttft, 0.95)
    return "\n".join(
        [
            f"# Soak benchmark ({args.label})",
            "",
            f"{datetime.date.today().isoformat()}, {platform.machine()}, "
            f"{os.cpu_count()} CPU cores shared with other work, Python "
            f"{platform.python_version()}. `python -m benchmarks.soak.run --users {args.users} "
            f"--minutes {args.minutes} --database {args.database}`.",
            "",
            f"{len(people)} people in {len(ORGS)} organisations "
            f"({sum(p.signs_in for p in people)} sign in with a password and chat through the "
            f"page, {sum(p.hostile for p in people)} hostile, the rest use API keys); think time "
            "exponential, mean 30 s (3 to 120 s); 75 % streamed chats, 25 % searches of their "
            "organisation's collection. `autan serve` (1 worker, default quotas: 10 requests a "
            "minute per person) in front of two upstream simulator replicas (TTFT 300 ms, "
            "40 tokens/s, 80 tokens; 500 on image and audio parts, as llama.cpp).",
            "",
            *table(run),
            "",
            f"Whole run: well-behaved errors other than 429/503: **{errors}** (target 0); "
            f"TTFT p50 {p50 and round(p50 * 1000)} ms, p95 {p95 and round(p95 * 1000)} ms "
            f"over {len(all_ttft)} streams.",
            "",
            "Hostile requests and what they got:",
            "",
            *hostile_rows,
            "",
            "First well-behaved errors (status, detail):",
            "",
            samples,
            "",
        ]
    )


async def main(args: argparse.Namespace) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory(prefix="autan-soak-") as tmp:
        folder = Path(tmp)
        chat_like_llama_cpp = ("--text-only", "--ttft-ms", "300", "--tokens-per-s", "40")
        sims = [start_sim(*chat_like_llama_cpp, "--tokens", "80") for _ in range(2)]
        try:
            with database(args.database, folder) as url:
                print(f"creating {args.users} people…", flush=True)
                people = await populate(url, args.users, args.signing_in)
                port = free_port()
                base = f"http://127.0.0.1:{port}"
                async with autan_server(url, folder, [s[1] for s in sims], port) as server:
                    async with aiohttp.ClientSession() as client:
                        collections = await shared_collections(client, base, people)
                    run = Run(time.monotonic(), [Minute() for _ in range(args.minutes)])
                    deadline = run.started + args.minutes * 60
                    ramp = min(60.0, args.minutes * 30.0)
                    tasks = [
                        hostile(base, p, run, deadline, ramp, i)
                        if p.hostile
                        else well_behaved(base, p, run, deadline, ramp, collections, i)
                        for i, p in enumerate(people)
                    ]
                    print(f"running {len(tasks)} people for {args.minutes} min…", flush=True)
                    await asyncio.gather(sample(base, psutil.Process(server.pid), run, deadline),
                                         *tasks)  # fmt: skip
        finally:
            for process, _ in sims:
                process.terminate()
                process.wait(10)
    text = report(run, args, people)
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--signing-in", type=int, default=None, help="people who use the page (default: 2 %%)"
    )
    parser.add_argument("--label", default="full run")
    parser.add_argument("--out", default=str(RESULTS), help="markdown report ('' for none)")
    args = parser.parse_args()
    if args.signing_in is None:
        args.signing_in = max(2, min(50, args.users // 50))
    return args


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
