"""Deep research over the API, as a job: create, list, poll, stream its events, cancel.

The shape follows OpenAI's background responses (`POST` creates and answers at once with a
queued object, `GET /{id}` polls, `POST /{id}/cancel`, a stream resumable with
`starting_after`), under its own `/v1/research` path: OpenAI's deep research lives in the
Responses API, whose full object model (output items, tool calls) a report with sources does
not need. Every job is its owner's alone: another person's id answers 404.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts.principal import Principal
from autan.core.body import json_body, parse_body
from autan.deps import ApiPrincipal, SessionDep, api_principal
from autan.llm.config import ModelType
from autan.llm.errors import ModelNotFound
from autan.openai_api.streaming import EventStreamResponse
from autan.research import service
from autan.research.models import ResearchJob
from autan.services import services_of

router = APIRouter(
    prefix="/v1/research", tags=["Deep research"], dependencies=[Depends(api_principal)]
)


class ResearchRequest(BaseModel):
    """`POST /v1/research`."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=4000)
    model: str | None = Field(None, min_length=1, description="Chat model; default the first.")
    lang: Literal["fr", "en"] = "fr"


def research_object(job: ResearchJob) -> dict[str, Any]:
    """A run as the API shows it."""
    return {
        "id": str(job.id),
        "object": "research",
        "status": str(job.status),
        "created_at": int(job.created_at.timestamp()),
        "finished_at": int(job.finished_at.timestamp()) if job.finished_at else None,
        "question": job.question,
        "model": job.model,
        "lang": job.lang,
        "limits": job.limits,
        "progress": job.progress,
        "plan": job.plan,
        "steps": job.steps,
        "sources": job.sources,
        "report": job.report,
        "error": job.error,
        "usage": {"total_tokens": job.tokens_used},
    }


async def _model(request: Request, principal: Principal, wanted: str | None) -> str:
    access = services_of(request).model_access
    if wanted is not None:
        return (await access.pool(principal, wanted, ModelType.CHAT)).model_id
    pools = await access.allowed(principal, ModelType.CHAT)
    if not pools:
        raise ModelNotFound("(any chat model)")
    return pools[0].model_id


@router.post("", status_code=201, openapi_extra=json_body(ResearchRequest))
async def create_research(request: Request, principal: ApiPrincipal) -> dict[str, Any]:
    """Queue a run; it counts as one deep-research run of the caller's quota."""
    body = await parse_body(request, ResearchRequest)
    model = await _model(request, principal, body.model)
    job = await services_of(request).research.start(principal, body.question, model, body.lang)
    return research_object(job)


@router.get("")
async def list_research(principal: ApiPrincipal, session: SessionDep) -> dict[str, Any]:
    """The caller's latest runs, newest first."""
    jobs = await service.recent(session, principal)
    return {"object": "list", "data": [research_object(job) for job in jobs]}


@router.get("/{job_id}")
async def get_research(
    job_id: uuid.UUID, principal: ApiPrincipal, session: SessionDep
) -> dict[str, Any]:
    """One run, as it is now (poll this, or stream its events)."""
    return research_object(await service.owned(session, principal, job_id))


@router.post("/{job_id}/cancel")
async def cancel_research(
    job_id: uuid.UUID, principal: ApiPrincipal, session: SessionDep
) -> dict[str, Any]:
    """Stop a run; what it found is kept and its report written from it."""
    await service.request_stop(session, principal, job_id)
    session.expunge_all()
    return research_object(await service.owned(session, principal, job_id))


@router.get("/{job_id}/events", response_model=None)
async def research_events(
    job_id: uuid.UUID,
    request: Request,
    principal: ApiPrincipal,
    session: SessionDep,
    starting_after: int = Query(-1, ge=-1, description="Last step number already seen."),
) -> EventStreamResponse:
    """The run's steps as server-sent events, as they happen, then the finished run."""
    await service.owned(session, principal, job_id)  # 404 before the stream opens
    services = services_of(request)
    interval = services.settings.research.events_interval
    return EventStreamResponse(
        _events(services.session_factory, principal, job_id, starting_after, interval)
    )


def _event(data: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


async def _load(
    factory: async_sessionmaker[AsyncSession], principal: Principal, job_id: uuid.UUID
) -> ResearchJob:
    async with factory() as session:
        return await service.owned(session, principal, job_id)


async def _events(
    factory: async_sessionmaker[AsyncSession],
    principal: Principal,
    job_id: uuid.UUID,
    seen: int,
    interval: float,
) -> AsyncGenerator[bytes, None]:
    """Steps after `seen`, a status event when the status or progress changes, and the
    whole run when it is over; the database is read every `interval` seconds."""
    status: tuple[str, float] | None = None
    while True:
        job = await _load(factory, principal, job_id)
        for number, step in enumerate(job.steps):
            if number > seen:
                yield _event({"type": "research.step", "sequence_number": number, "step": step})
                seen = number
        now = (str(job.status), job.progress)
        if now != status:
            status = now
            yield _event({"type": "research.status", "status": now[0], "progress": now[1]})
        if job.final:
            yield _event({"type": "research.completed", "research": research_object(job)})
            yield b"data: [DONE]\n\n"
            return
        await asyncio.sleep(interval)
