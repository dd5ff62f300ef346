"""End-to-end answer benchmark: PIAF questions asked to an assistant grounded on all paragraphs.

An in-process Autan (SQLite file, Autan's embedded models: e5 for embeddings, the GGUF given
for chat) gets one collection holding the 1,518 PIAF paragraphs, each uploaded as a document
through `POST /v1/documents` (the real ingestion path: extraction, chunking, e5 embedding)
and knowing its paragraph id (document metadata `piaf_paragraph`), and an assistant grounded
on it. Each question then goes through the chat's own turn (`Turns.prepare` and `Turns.run`,
what the chat page calls): system prompt, hybrid retrieval in the assistant's collection, the
`MIN_COSINE` abstention rule, the model's streamed answer, the numbered sources.

Scores: contains-gold and token F1 (as `run.py`), false abstention on PIAF questions and
abstention on service-public questions (the collection has no answer to them), and whether
the gold paragraph is the first source the answer cites, any source it cites, or the first
source retrieval found.

    .venv/bin/python -m benchmarks.answers.end_to_end --model PATH.gguf \
        --name qwen2.5-coder-1.5b --questions 300 --off-topic 60 --threads 1

The database (`--db`) is built once and reused by later runs; the per-question JSON
(benchmarks/results/answers-e2e-<name>.json) is written after every question and a rerun
skips the questions already in it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import func, select

from autan.accounts import service as accounts
from autan.accounts.models import Organisation, Role, User
from autan.accounts.principal import Principal
from autan.app import create_app
from autan.chat.turn_store import TurnRequest
from autan.core.db import create_engine, session_factory
from autan.core.migrate import upgrade
from autan.documents.models import Document
from autan.services import Services
from autan.settings import Settings
from benchmarks.answers.conditions import conditions
from benchmarks.answers.data import DATA, PIAF, Case, load_cases
from benchmarks.answers.e2e_scoring import score, summarise

RESULTS = Path(__file__).resolve().parents[1] / "results"
WORK = Path(__file__).resolve().parents[1] / ".work" / "answers-e2e"
EMAIL = "bench-e2e@example.org"


def paragraphs(path: Path = PIAF) -> list[tuple[str, str, str]]:
    """Every PIAF paragraph as (paragraph id `title#n`, title, text), in the file's order."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    return [
        (f"{article['title']}#{n}", article["title"], paragraph["context"].strip())
        for article in raw["data"]
        for n, paragraph in enumerate(article["paragraphs"])
    ]


def off_topic(limit: int) -> list[Case]:
    """Service-public questions (procedures), which no PIAF paragraph answers."""
    path = DATA / "service-public" / "questions.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [
        Case(f"sp-{n}", "service-public", r["question"], "", "", (), answerable=False)
        for n, r in enumerate(rows[:limit])
    ]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def settings_for(args: argparse.Namespace) -> Settings:
    """Autan's defaults, but for the embedded chat model, one thread and no quotas."""
    db = Path(args.db).resolve()
    return Settings(
        data_dir=db.parent / "data",
        database_url=f"sqlite+aiosqlite:///{db}",
        embedded={
            "chat_model_path": Path(args.model),
            "chat_model_id": args.name,
            "threads": args.threads,
            "parallel": 1,
            "start_timeout": 300,
            # A busy shared machine: never restart a model server for a slow health check.
            "health_interval": 60,
            "health_timeout": 300,
        },
        quotas={"enabled": False},
        chat={"max_answer_tokens": args.max_tokens},
        gateway={"read_timeout": 1800, "first_byte_timeout": 1800},
    )


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[str, FastAPI]]:
    """Autan served in this process on a free loopback port (lifespan included)."""
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=_free_port(), log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}", app
    finally:
        server.should_exit = True
        await task


async def person(settings: Settings) -> tuple[Principal, str, str]:
    """The referent running the benchmark (created once), a new API key and the org's slug."""
    engine = create_engine(settings.resolved_database_url)
    try:
        await upgrade(engine)
        async with session_factory(engine)() as session:
            user = await session.scalar(select(User).where(User.email == EMAIL))
            if user is None:
                user = await accounts.create_user(session, EMAIL, role=Role.REFERENT)
            key = (await accounts.create_api_key(session, EMAIL)).secret
            org = await session.get(Organisation, user.org_id)
            assert org is not None
            me = Principal(user_id=user.id, org_id=user.org_id, email=user.email, role=user.role)
            return me, key, org.slug
    finally:
        await engine.dispose()


async def ingest(
    client: httpx.AsyncClient, services: Services, slug: str, state_path: Path, limit: int | None
) -> dict[str, Any]:
    """The collection of every paragraph and its assistant, built once (resumed if cut)."""
    state: dict[str, Any] = {}
    if state_path.is_file():
        state = json.loads(state_path.read_text(encoding="utf-8"))
    if "collection_id" not in state:
        response = await client.post(
            "/v1/collections", json={"name": "PIAF", "visibility": "private"}
        )
        response.raise_for_status()
        state = {"collection_id": response.json()["id"], "documents": {}}
    documents: dict[str, list[str]] = state["documents"]  # document id -> paragraph ids
    done = {key for keys in documents.values() for key in keys}
    started = time.perf_counter()
    for n, (key, title, text) in enumerate(paragraphs()[:limit]):
        if key in done:
            continue
        response = await client.post(
            "/v1/documents",
            data={
                "collection": state["collection_id"],
                "name": f"{title} §{int(key.rsplit('#', 1)[1]) + 1}",
                "metadata": json.dumps({"piaf_paragraph": key}),
            },
            files={"file": (f"piaf-{n}.txt", text.encode())},
        )
        response.raise_for_status()
        documents.setdefault(response.json()["id"], []).append(key)
        if n % 100 == 0:
            state_path.write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
    state_path.write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
    await _wait_ready(services, uuid.UUID(state["collection_id"]), len(documents))
    state.setdefault("ingest_seconds", round(time.perf_counter() - started, 1))
    if "assistant_id" not in state:
        body = {"name": "PIAF", "collections": [state["collection_id"]]}
        response = await client.post(f"/api/orgs/{slug}/assistants", json=body)
        response.raise_for_status()
        state["assistant_id"] = response.json()["id"]
    state_path.write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
    return state


async def _wait_ready(services: Services, collection: uuid.UUID, expected: int) -> None:
    """Until every document of the collection is ready (or failed), reporting progress."""
    last = ""
    while True:
        async with services.session_factory() as session:
            rows = await session.execute(
                select(Document.status, func.count())
                .where(Document.collection_id == collection)
                .group_by(Document.status)
            )
            counts = {str(status): count for status, count in rows.all()}
        line = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        if line != last:
            print(f"ingestion: {line} (load {os.getloadavg()[0]:.1f})", flush=True)
            last = line
        if counts.get("ready", 0) + counts.get("failed", 0) >= expected:
            return
        await asyncio.sleep(10)


async def ask(
    services: Services, me: Principal, assistant: uuid.UUID, case: Case
) -> dict[str, Any]:
    """One question in a new conversation with the assistant, as the chat page sends it."""
    model = services.models.chat_models()[0]
    context = services.gateway.pools[model].config.context_length
    request = TurnRequest(action="send", content=case.question, assistant_id=assistant, lang="fr")
    started = time.perf_counter()
    conversation, history = await services.turns.prepare(me, request, model)
    first: float | None = None
    parts: list[str] = []
    sources: list[dict[str, Any]] = []
    error = None
    events = services.turns.run(me, request, model, context, conversation, history)
    try:
        async for event in events:
            if event.name == "sources":
                sources = event.data["sources"]
            elif event.name == "delta":
                first = first if first is not None else time.perf_counter() - started
                parts.append(event.data["text"])
            elif event.name == "error":
                error = str(event.data["error"])
            elif event.name == "done":
                break  # the conversation's title, asked next, is no part of the answer
    finally:
        close = getattr(events, "aclose", None)  # an async generator, typed as an iterator
        if close is not None:
            await close()
    return {
        "answer": "".join(parts),
        "ttft": first,
        "seconds": time.perf_counter() - started,
        "sources": [
            {"number": s["number"], "document_id": s["document_id"], "score": s["score"]}
            for s in sources
        ],
        "error": error,
    }


def planned(args: argparse.Namespace) -> list[Case]:
    """The test split's questions (as `run.py` picks them), off-topic ones interleaved."""
    answerable = load_cases("test", args.questions)
    others = off_topic(args.off_topic)
    ratio = max(1, len(answerable) // max(1, len(others)))
    cases: list[Case] = []
    for index, case in enumerate(answerable):
        cases.append(case)
        if index % ratio == ratio - 1 and others:
            cases.append(others.pop(0))
    return cases + others


def _write(args: argparse.Namespace, result: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"answers-e2e-{args.name}.json"
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")


def _result(
    args: argparse.Namespace,
    state: dict[str, Any],
    rows: list[dict[str, Any]],
    load_before: tuple[float, ...],
) -> dict[str, Any]:
    return {
        "name": args.name,
        "model_file": Path(args.model).name,
        "split": "test",
        **conditions(load_before),
        "paragraphs": sum(len(keys) for keys in state["documents"].values()),
        "documents": len(state["documents"]),
        "ingest_seconds": state.get("ingest_seconds"),
        "max_answer_tokens": args.max_tokens,
        "threads": args.threads,
        "summary": summarise(rows),
        "rows": rows,
    }


async def run(args: argparse.Namespace) -> dict[str, Any] | None:
    """Build (or reuse) the collection, then answer the planned questions not yet answered."""
    load_before: tuple[float, ...] = os.getloadavg()
    settings = settings_for(args)
    settings.ensure_data_dir()
    me, key, slug = await person(settings)
    out = RESULTS / f"answers-e2e-{args.name}.json"
    rows: list[dict[str, Any]] = []
    if out.is_file():
        rows = json.loads(out.read_text(encoding="utf-8"))["rows"]
    gold_of = {text: key for key, _, text in paragraphs()}
    async with running(settings) as (base_url, app):
        services: Services = app.state.services
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=600) as client:
            state = await ingest(client, services, slug, Path(f"{args.db}.json"), args.paragraphs)
        print(f"collection ready: {len(state['documents'])} documents", flush=True)
        if args.ingest_only:
            return None
        done = {r["id"] for r in rows}
        cases = [c for c in planned(args) if c.id not in done]
        assistant = uuid.UUID(state["assistant_id"])
        deadline = time.monotonic() + args.budget
        for n, case in enumerate(cases, 1):
            result = await ask(services, me, assistant, case)
            gold = gold_of.get(case.paragraph.strip(), "")
            rows.append(score(case, result, state["documents"], gold))
            _write(args, _result(args, state, rows, load_before))
            if n % 5 == 0:
                print(f"{args.name}: {len(rows)} done ({n}/{len(cases)} this run)", flush=True)
            if time.monotonic() > deadline:
                break
        return _result(args, state, rows, load_before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="GGUF file of the chat model")
    parser.add_argument("--name", required=True, help="the model's id and row name")
    parser.add_argument("--db", default=str(WORK / "autan.db"), help="SQLite file, kept")
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--off-topic", type=int, default=60)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--paragraphs", type=int, default=None, help="only the first N paragraphs (a smoke test)"
    )
    parser.add_argument("--ingest-only", action="store_true", help="build the collection only")
    parser.add_argument(
        "--budget", type=float, default=float("inf"), help="stop after this many seconds"
    )
    args = parser.parse_args()
    Path(args.db).parent.mkdir(parents=True, exist_ok=True)
    result = asyncio.run(run(args))
    if result is not None:
        print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    main()
