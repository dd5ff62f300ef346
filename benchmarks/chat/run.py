"""Chat scale benchmark: a person with 2,000 conversations, one of them 500 messages long.

Measures, through the real web app (ASGI, signed-in session) on SQLite and PostgreSQL:
opening the chat home (sidebar's first page), opening the 500-message conversation (its
latest window), loading an earlier window, the sidebar's next page, and searching the
conversations' contents. Messages are French sentences from ../shared/data.

    .venv/bin/python -m benchmarks.chat.run [--conversations 2000] [--messages 500]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import platform
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from autan.accounts import service as accounts
from autan.accounts.models import Role, User
from autan.app import create_app
from autan.chat.models import Conversation, Message
from autan.core.db import create_engine, session_factory
from autan.core.migrate import upgrade
from autan.llm.config import ModelConfig, ModelsConfig, ReplicaConfig, dump_models_file
from autan.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "service-public" / "fiches.jsonl"
RESULTS = ROOT / "benchmarks" / "results"
EMAIL = "agent@agriculture.gouv.fr"
PASSWORD = "correct horse battery staple"


def sentences(count: int) -> list[str]:
    """French sentences from the service-public fiches, cycled to `count`."""
    found: list[str] = []
    with DATA.open() as lines:
        for line in lines:
            text = json.loads(line)["text"]
            found.extend(s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s) > 40)
            if len(found) >= count:
                break
    return [found[i % len(found)] for i in range(count)]


async def populate(url: str, conversations: int, long_messages: int) -> uuid.UUID:
    """The person, their conversations (4 messages each) and one long conversation."""
    engine = create_engine(url)
    await upgrade(engine)
    texts = sentences(conversations * 4 + long_messages)
    async with session_factory(engine)() as session:
        user: User = await accounts.create_user(
            session, EMAIL, role=Role.MEMBER, org_slug="agri", password=PASSWORD
        )
        # Everyone has accepted the charter: the benchmark is about the chat.
        user.charter_accepted_version = 1
        user.charter_accepted_at = datetime.datetime.now(datetime.UTC)
        await session.commit()
        now = datetime.datetime.now(datetime.UTC)
        rows, messages = [], []
        for i in range(conversations):
            cid = uuid.uuid4()
            when = now - datetime.timedelta(hours=i)
            rows.append(
                {
                    "id": cid,
                    "user_id": user.id,
                    "org_id": user.org_id,
                    "title": texts[i * 4][:60],
                    "title_source": "model",
                    "model": "petit",
                    "message_count": 4,
                    "created_at": when,
                    "updated_at": when,
                }
            )
            for p in range(4):
                messages.append(
                    {
                        "id": uuid.uuid4(),
                        "conversation_id": cid,
                        "position": p,
                        "role": "user" if p % 2 == 0 else "assistant",
                        "content": texts[i * 4 + p],
                        "status": "complete",
                        "prompt_tokens": 0,
                        "completion_tokens": 0,
                        "created_at": when,
                    }
                )
        long_id = uuid.uuid4()
        rows.append(
            {
                "id": long_id,
                "user_id": user.id,
                "org_id": user.org_id,
                "title": "Longue conversation",
                "title_source": "user",
                "model": "petit",
                "message_count": long_messages,
                "created_at": now,
                "updated_at": now,
            }
        )
        base = conversations * 4
        for p in range(long_messages):
            messages.append(
                {
                    "id": uuid.uuid4(),
                    "conversation_id": long_id,
                    "position": p,
                    "role": "user" if p % 2 == 0 else "assistant",
                    "content": "**Réponse.** " + texts[base + p] * 3,
                    "status": "complete",
                    "prompt_tokens": 0,
                    "completion_tokens": 0,
                    "created_at": now,
                }
            )
        await session.execute(insert(Conversation), rows)
        for start in range(0, len(messages), 2000):
            await session.execute(insert(Message), messages[start : start + 2000])
        await session.commit()
    await engine.dispose()
    return long_id


async def timed(call: Callable[[], Awaitable[httpx.Response]], runs: int) -> dict[str, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = await call()
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
        "bytes": len(response.content),
    }


async def measure(url: str, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    long_id = await populate(url, args.conversations, args.messages)
    models_file = folder / "models.yaml"
    dump_models_file(
        ModelsConfig(
            models=[ModelConfig(id="petit", replicas=[ReplicaConfig(url="http://127.0.0.1:9/v1")])]
        ),
        models_file,
    )
    settings = Settings(data_dir=folder / "data", database_url=url, models_file=models_file)
    app = create_app(settings)
    results: dict[str, Any] = {}
    async with app.router.lifespan_context(app) as state:

        async def with_state(scope: Any, receive: Any, send: Any) -> None:
            # What a server does with the lifespan's state; httpx's transport does not.
            await app({**scope, "state": dict(state or {})}, receive, send)

        transport = httpx.ASGITransport(app=with_state)
        client = httpx.AsyncClient(
            transport=transport, base_url="http://autan", headers={"Accept": "text/html"}
        )
        async with client:
            login = await client.get("/login")
            token = re.search(r'name="form_token" value="([^"]*)"', login.text)
            assert token
            signed = await client.post(
                "/login",
                data={"form_token": token.group(1), "email": EMAIL, "password": PASSWORD},
            )
            assert signed.status_code == 303, signed.text
            home = await client.get("/")
            assert home.status_code == 200, home.status_code
            more = re.search(r'hx-get="(/chat/sidebar\?before=[^"]+)"', home.text)
            assert more
            earlier = f"/c/{long_id}/messages?before={args.messages - 40}"
            cases = {
                "chat home (sidebar, first 50 of 2,000)": lambda: client.get("/"),
                "sidebar next page": lambda: client.get(more.group(1).replace("&amp;", "&")),
                f"open the {args.messages}-message conversation": lambda: client.get(
                    f"/c/{long_id}"
                ),
                "earlier window (40 messages)": lambda: client.get(earlier),
                "search in titles and contents": lambda: client.get(
                    "/chat/search", params={"q": "allocation"}
                ),
            }
            for name, call in cases.items():
                results[name] = await timed(call, args.runs)
    return results


def table(all_results: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| engine | request | p50 ms | p95 ms | response bytes |",
        "|---|---|---|---|---|",
    ]
    for engine, results in all_results.items():
        for name, figures in results.items():
            lines.append(
                f"| {engine} | {name} | {figures['p50_ms']} | {figures['p95_ms']} "
                f"| {figures['bytes']:,} |"
            )
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--skip-postgresql", action="store_true")
    args = parser.parse_args()
    all_results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "sqlite").mkdir()
        url = f"sqlite+aiosqlite:///{folder / 'sqlite' / 'autan.db'}"
        all_results["SQLite"] = await measure(url, folder / "sqlite", args)
        if not args.skip_postgresql:
            import pgserver

            server: Any = pgserver.get_server(  # type: ignore[attr-defined]
                str(folder / "pg"), cleanup_mode="stop"
            )
            try:
                server.psql("CREATE DATABASE bench;")
                pg_url = f"postgresql+asyncpg://postgres@/bench?host={folder / 'pg'}"
                (folder / "pgdata").mkdir()
                all_results["PostgreSQL"] = await measure(pg_url, folder / "pgdata", args)
            finally:
                server.cleanup()
    text = table(all_results)
    header = (
        f"# Chat at scale\n\n{args.conversations:,} conversations of one person "
        f"(4 messages each) and one of {args.messages} messages; {args.runs} requests each, "
        f"through the web app in process (ASGI, signed-in session, HTML rendered).\n"
        f"Machine: {platform.machine()}, Python {platform.python_version()}, "
        f"{datetime.date.today().isoformat()}.\n\n"
    )
    print(header + text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "chat.md").write_text(header + text + "\n")
    (RESULTS / "chat.json").write_text(json.dumps(all_results, indent=2) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
