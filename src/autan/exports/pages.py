"""Download a conversation, one answer or a deep-research report as Markdown, DOCX or ODT.

Each route reads only the caller's own rows (`chat.service.owned*`, `research.service.owned`),
so another person's id answers 404 like an unknown one.
"""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Depends, Request, Response

from autan.chat import service as chat
from autan.deps import CurrentPrincipal, SessionDep, principal
from autan.exports.conversation import answer_markdown, conversation_markdown
from autan.exports.files import export_file
from autan.research import service as research
from autan.web.templating import request_language

router = APIRouter(include_in_schema=False, dependencies=[Depends(principal)])

Format = Literal["md", "docx", "odt"]


@router.get("/c/{conversation_id}/export.{fmt}")
async def export_conversation(
    conversation_id: uuid.UUID,
    fmt: Format,
    request: Request,
    me: CurrentPrincipal,
    session: SessionDep,
) -> Response:
    """The whole conversation, each answer with its sources."""
    conversation = await chat.owned(session, me, conversation_id)
    messages = await chat.history(session, conversation, limit=100_000)
    text = conversation_markdown(conversation, messages, request_language(request))
    return export_file(text, fmt, conversation.title or "conversation")


@router.get("/messages/{message_id}/export.{fmt}")
async def export_answer(
    message_id: uuid.UUID,
    fmt: Format,
    request: Request,
    me: CurrentPrincipal,
    session: SessionDep,
) -> Response:
    """One answer with its sources."""
    message, conversation = await chat.owned_message(session, me, message_id)
    text = answer_markdown(conversation, message, request_language(request))
    return export_file(text, fmt, conversation.title or "reponse")


@router.get("/research/{job_id}/report.odt")
async def export_report_odt(
    job_id: uuid.UUID, me: CurrentPrincipal, session: SessionDep
) -> Response:
    """A deep-research report as an OpenDocument file (Markdown and DOCX stay in research)."""
    job = await research.owned(session, me, job_id)
    return export_file(job.report, "odt", f"research-{job.id}")
