"""Search in message contents (`chat.search`) for one person with many messages.

Usage: .venv/bin/python benchmarks/chat_search/run.py [--messages N] [--engine E]
(E: sqlite, postgresql or both.)
Seeds N messages (default 100,000: 2,000 conversations of 50 messages of French text) for one
person, plus as many for a neighbour, then times `search_conversations` for words found in many,
few and no messages, accents and case mixed. Prints a table and writes
benchmarks/results/chat-search.md and .json (one section per engine).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from autan.accounts import service as accounts
from autan.accounts.principal import Principal
from autan.chat.models import Conversation, Message
from autan.chat.search import search_conversations
from autan.core.db import create_engine, session_factory, utcnow
from autan.core.migrate import upgrade

RESULTS = Path(__file__).resolve().parents[1] / "results"
PER_CONVERSATION = 50
CHUNK = 5_000
_TEXT = (
    "le la les des une un pour avec dans sur administration dossier agent service public "
    "demande réponse courrier ministère préfecture budget réunion note synthèse projet août "
    "été rapport décret arrêté circulaire agriculture culture santé éducation délai marché "
    "subvention commune région département conseil avis procédure télétravail formation"
)
WORDS = _TEXT.split(" ")
QUERIES = {
    "frequent word (many hits)": "Administration",
    "accented, typed without accents": "aout",
    "rare word (few hits)": "xylophone",
    "absent word (no hit)": "zzqqy",
}


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 90))).capitalize() + "."


async def _seed(url: str, messages: int) -> Principal:
    engine = create_engine(url)
    await upgrade(engine)
    rng = random.Random(17)
    factory = session_factory(engine)
    async with factory() as session:
        me = await accounts.create_user(session, "moi@agri.gouv.fr", org_slug="agri")
        other = await accounts.create_user(session, "voisin@agri.gouv.fr", org_slug="agri")
        for owner in (me, other):
            conversations = max(1, messages // PER_CONVERSATION)
            ids = [uuid.uuid4() for _ in range(conversations)]
            await session.execute(
                insert(Conversation),
                [
                    {
                        "id": cid,
                        "user_id": owner.id,
                        "org_id": owner.org_id,
                        "title": f"Conversation {n}",
                        "title_source": "model",
                        "model": "petit",
                        "message_count": PER_CONVERSATION,
                        "updated_at": utcnow(),
                    }
                    for n, cid in enumerate(ids)
                ],
            )
            rows = []
            for n in range(messages):
                text = _sentence(rng)
                if n % 997 == 0:
                    text += " Un xylophone pour la fête."
                rows.append(
                    {
                        "id": uuid.uuid4(),
                        "conversation_id": ids[n // PER_CONVERSATION % conversations],
                        "position": n % PER_CONVERSATION,
                        "role": "user" if n % 2 == 0 else "assistant",
                        "content": text,
                        "created_at": utcnow(),
                    }
                )
                if len(rows) == CHUNK:
                    await session.execute(insert(Message), rows)
                    rows = []
            if rows:
                await session.execute(insert(Message), rows)
        await session.commit()
    await engine.dispose()
    return Principal(user_id=me.id, org_id=me.org_id, email=me.email, role=me.role)


async def measure(url: str, messages: int, runs: int) -> dict[str, Any]:
    """Seed, then time each query `runs` times; milliseconds per search."""
    started = time.perf_counter()
    me = await _seed(url, messages)
    seeded = round(time.perf_counter() - started, 1)
    engine = create_engine(url)
    figures: dict[str, Any] = {}
    try:
        async with session_factory(engine)() as session:
            for name, query in QUERIES.items():
                timings, found = [], 0
                for _ in range(runs):
                    start = time.perf_counter()
                    found = len(await search_conversations(session, me, query))
                    timings.append((time.perf_counter() - start) * 1000)
                figures[name] = {
                    "query": query,
                    "found": found,
                    "p50_ms": round(statistics.median(timings), 1),
                    "max_ms": round(max(timings), 1),
                }
    finally:
        await engine.dispose()
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return {"messages": messages, "seed_seconds": seeded, "queries": figures, "load": load}


def _table(engine: str, result: dict[str, Any]) -> list[str]:
    lines = [
        f"## {engine}",
        "",
        f"{result['messages']:,} messages for the person searching (and as many for a "
        f"neighbour), seeded in {result['seed_seconds']} s. Load: `{result['load']}`.",
        "",
        "| query | text | conversations found | p50 ms | max ms |",
        "|---|---|---|---|---|",
    ]
    for name, row in result["queries"].items():
        lines.append(
            f"| {name} | `{row['query']}` | {row['found']} | {row['p50_ms']} | {row['max_ms']} |"
        )
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    results: dict[str, Any] = {}
    for name in engines:
        server = None
        if name == "postgresql":
            import pgserver

            folder = tempfile.mkdtemp()
            server = pgserver.get_server(folder, cleanup_mode="stop")  # type: ignore[attr-defined]
            server.psql("CREATE DATABASE bench")
            url = f"postgresql+asyncpg://postgres@/bench?host={folder}"
        else:
            url = f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/search.db"
        try:
            results[name] = asyncio.run(measure(url, args.messages, args.runs))
        finally:
            if server is not None:
                server.cleanup()
    lines = ["# Search in message contents", ""]
    lines += [
        "`chat.search.search_conversations`: folded LIKE over one person's messages "
        "(accent- and case-insensitive), 30 conversations at most, with a passage each.",
        "",
    ]
    for name, result in results.items():
        lines += _table(name, result)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "chat-search.json").write_text(json.dumps(results, indent=2))
    text = "\n".join(lines)
    (RESULTS / "chat-search.md").write_text(text)
    print(text)  # noqa: T201


if __name__ == "__main__":
    main()
