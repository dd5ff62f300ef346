"""Helpers for the chat's HTTP tests: a site answered by the scripted model, a signed-in
person's CSRF token, a turn and its events, a conversation's stored messages."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import select

from autan.chat.models import Conversation, Message
from autan.llm.config import ModelConfig, ModelsConfig, ModelType, ReplicaConfig
from tests.support.library import database
from tests.support.scripted_upstream import scripted_upstream
from tests.support.simulated_models import simulated_models
from tests.support.web import Site, hidden, parse_events, run_site


@contextlib.asynccontextmanager
async def scripted_site(
    tmp_path: Path,
    database_url: str,
    models: Sequence[str] = ("scripted",),
    *,
    embeddings: bool = False,
    **options: Any,
) -> AsyncIterator[Site]:
    """A site whose chat models (`models`, by id) are all the scripted one; `embeddings`:
    with the simulated embedding model too, so attached files are read and searched."""
    async with scripted_upstream() as upstream, simulated_models() as simulated:
        config = [ModelConfig(id=m, replicas=[ReplicaConfig(url=upstream)]) for m in models]
        if embeddings:
            config += [m for m in simulated.models if m.type == ModelType.EMBEDDING]
        async with run_site(tmp_path, database_url, ModelsConfig(models=config), **options) as s:
            yield s


async def csrf_of(browser: httpx.AsyncClient) -> str:
    """The CSRF token of the signed-in person's chat page."""
    page = await browser.get("/")
    assert page.status_code == 200, page.text
    return hidden(page.text, "csrf_token")


async def ask(
    browser: httpx.AsyncClient, csrf: str, **body: Any
) -> tuple[httpx.Response, list[tuple[str, dict[str, Any]]]]:
    """Ask (`action` "send" unless given): the response, and its events if it was taken (a
    refusal is a JSON error, no events)."""
    response = await browser.post(
        "/chat/turn",
        content=orjson.dumps({"action": "send", **body}),
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
        timeout=120,
    )
    return response, parse_events(response.content) if response.is_success else []


async def turn(
    browser: httpx.AsyncClient, csrf: str, **body: Any
) -> list[tuple[str, dict[str, Any]]]:
    """Ask and read the whole answer, which must be taken: its events."""
    response, events = await ask(browser, csrf, **body)
    assert response.status_code == 200, response.text
    return events


async def messages_of(site: Site, conversation_id: str) -> list[Message]:
    """The conversation's stored messages, in order."""
    async with database(site) as session:
        conversation = await session.get(Conversation, uuid.UUID(conversation_id))
        assert conversation is not None
        rows = await session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation.id)
            .order_by(Message.position)
        )
        return list(rows)


async def settled(site: Site, conversation_id: str, count: int) -> list[tuple[str, str, str]]:
    """The conversation's (role, status, content) rows once there are `count` of them
    (an answer stopped by its reader is stored just after the stream closes)."""
    rows: list[tuple[str, str, str]] = []
    for _ in range(100):
        rows = [
            (str(m.role), str(m.status), m.content)
            for m in await messages_of(site, conversation_id)
        ]
        if len(rows) == count:
            break
        await asyncio.sleep(0.1)
    return rows


async def wait_ready(browser: httpx.AsyncClient, url: str) -> dict[str, Any]:
    """An attachment's (or document's) state once it is read or has failed."""
    for _ in range(300):
        info: dict[str, Any] = (
            await browser.get(url, headers={"Accept": "application/json"})
        ).json()
        if info["status"] in ("ready", "failed"):
            return info
        await asyncio.sleep(0.2)
    raise AssertionError(f"{url} never finished")


async def stopped(
    browser: httpx.AsyncClient,
    csrf: str,
    body: dict[str, Any],
    until: Callable[[bytes], bool],
    path: str = "/chat/turn",
) -> bytes:
    """Post a turn (or a pair, `path`), read its stream until `until(what was read)`, then
    close it as the page's Stop does; what was read."""
    request = browser.build_request(
        "POST",
        path,
        content=orjson.dumps(body),
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
        timeout=120,
    )
    response = await browser.send(request, stream=True)
    assert response.status_code == 200
    seen = b""
    try:
        async for chunk in response.aiter_bytes():
            seen += chunk
            if until(seen):
                break
    finally:
        await response.aclose()
    return seen
