"""The chat pages: conversations in a sidebar, a streamed answer, rename, delete, feedback.

Every route needs a signed-in session (router-level dependency) and reads only the
caller's own conversations (`chat.service` scopes every query to its owner).
The answer streams as Server-Sent Events read by `static/chat.js` through `fetch`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.datastructures import UploadFile

from autan.accounts.models import Organisation
from autan.accounts.principal import Principal
from autan.arena import service as arena
from autan.arena.models import Comparison
from autan.assistants.errors import AssistantNotFound
from autan.assistants.service import usable_assistant, usable_assistants
from autan.chat import search as chat_search
from autan.chat import service
from autan.chat.attachments import attach, owned_attachment
from autan.chat.errors import ConversationNotFound, MessageNotFound, readable_message
from autan.chat.grounding import attached_documents
from autan.chat.markdown import to_html
from autan.chat.models import Conversation, Message
from autan.chat.turn_store import TurnEvent, TurnRequest
from autan.chat.turns import Turns
from autan.connectors.picker import my_drives
from autan.core.error_handlers import STATUS_OF_KIND, error_response
from autan.core.errors import AutanError, InvalidRequest
from autan.core.params import INT32_MAX, PositionCursor, SearchText, TimeCursor
from autan.deps import CurrentPrincipal, CurrentSession, ModelsDep, SessionDep, principal
from autan.documents.errors import FileTooLarge, MissingFile
from autan.documents.models import Document
from autan.documents.service import delete_document
from autan.documents.settings import MULTIPART_SLACK
from autan.documents.worker import IngestionWorker
from autan.footprint.views import impact_figures
from autan.llm.errors import ModelNotFound
from autan.openai_api.streaming import EventStreamResponse
from autan.prompts.library import CATEGORIES
from autan.prompts.service import usable_prompt
from autan.retention import service as retention
from autan.services import services_of
from autan.suitedocs.web_access import check_before_turn, docs_enabled
from autan.web import forms
from autan.web.errors import fill_in, translate
from autan.web.pages import page_context, templates_of, usable_models
from autan.web.templating import Templates, request_language

router = APIRouter(include_in_schema=False, dependencies=[Depends(principal)])

# Dates in the sidebar are grouped as the people using Autan see their calendar.
TIMEZONE = ZoneInfo("Europe/Paris")
MAX_TURN_BODY = 4 * 1024 * 1024


def _turns(request: Request) -> Turns:
    turns: Turns = services_of(request).turns
    return turns


# -- models the caller may use -------------------------------------------------------------


def _pick_model(models: list[dict[str, Any]], wanted: str | None) -> dict[str, Any]:
    for model in models:
        if model["id"] == wanted:
            return model
    if wanted:
        raise ModelNotFound(wanted)
    if not models:
        raise ModelNotFound("")
    return models[0]


# -- sidebar ---------------------------------------------------------------------------------


def group_by_day(
    conversations: list[Conversation], now: datetime
) -> list[tuple[str, list[Conversation]]]:
    """Today, yesterday, the last 7 days, older: the sidebar's sections, in order."""
    today = now.astimezone(TIMEZONE).date()
    labels = ("Today", "Yesterday", "Previous 7 days", "Older")
    groups: dict[str, list[Conversation]] = {label: [] for label in labels}
    for conversation in conversations:
        day = conversation.updated_at.astimezone(TIMEZONE).date()
        if day >= today:
            groups["Today"].append(conversation)
        elif day == today - timedelta(days=1):
            groups["Yesterday"].append(conversation)
        elif day > today - timedelta(days=7):
            groups["Previous 7 days"].append(conversation)
        else:
            groups["Older"].append(conversation)
    return [(label, items) for label, items in groups.items() if items]


async def _sidebar(
    session: SessionDep, me: Principal, before: datetime | None = None
) -> dict[str, Any]:
    page = await service.list_conversations(session, me, before=before)
    return {
        "groups": group_by_day(page.conversations, datetime.now(TIMEZONE)),
        "next_before": page.next_before.isoformat() if page.next_before else None,
    }


@router.get("/chat/sidebar")
async def sidebar_page(
    request: Request, me: CurrentPrincipal, session: SessionDep, before: TimeCursor = None
) -> HTMLResponse:
    """More of the sidebar (its "show more" button), as a fragment."""
    context = await _sidebar(session, me, before)
    return templates_of(request).render(request, "chat/_conversation_list.html", context)


@router.get("/chat/search")
async def search(
    request: Request, me: CurrentPrincipal, session: SessionDep, q: SearchText = ""
) -> HTMLResponse:
    """Conversations whose title or messages contain the words typed, as a fragment."""
    found = await chat_search.search_conversations(session, me, q)
    return templates_of(request).render(
        request, "chat/_search_results.html", {"found": found, "q": q.strip()}
    )


# -- pages -----------------------------------------------------------------------------------


async def _chat_page(
    request: Request,
    me: Principal,
    csrf: str,
    session: SessionDep,
    conversation: Conversation | None,
    *,
    prefill: str = "",
    chosen_assistant: str | None = None,
) -> HTMLResponse:
    context = await page_context(request, me, csrf, session)
    models = await usable_models(request, me)
    messages: list[Message] = []
    has_earlier = False
    feedback = {}
    pairs: dict[uuid.UUID, Comparison] = {}  # blind pairs asked here, by their answer B
    if conversation is not None:
        window = await service.window(session, conversation)
        messages, has_earlier = window.messages, window.has_earlier
        feedback = await service.feedback_of(session, messages)
        pairs = await arena.pairs_in(session, me, conversation.id)
    current = conversation.model if conversation is not None else None
    assistants = await usable_assistants(session, me)
    attachments = []
    if conversation is not None:
        attachments = [
            _attachment(request, d) for d in await attached_documents(session, me, conversation.id)
        ]
    context |= await _sidebar(session, me)
    context |= {
        "assistants": assistants,
        "current_assistant": next(
            (a for a in assistants if conversation and a.id == conversation.assistant_id), None
        ),
        "attachments": attachments,
        "web_search": {
            "allowed": await services_of(request).web.allowed(me),
            "on": bool(conversation is not None and conversation.web_search),
        },
        # `?assistant=` from the gallery: that assistant is chosen (if the caller may use it).
        "chosen_assistant": next((a for a in assistants if str(a.id) == chosen_assistant), None),
    }
    context |= {
        "conversation": conversation,
        "messages": messages,
        "has_earlier": has_earlier,
        "feedback": feedback,
        "pairs": pairs,
        "render": to_html,
        "impact_figures": impact_figures(request, context["org"]),
        "retention": await retention.rule_of(session, me.org_id),
        "models": models,
        "current_model": current if any(m["id"] == current for m in models) else None,
        "prefill": prefill,
        "wide": True,
        "arena_categories": CATEGORIES,  # the use cases offered with a pair's vote
        "docs_enabled": docs_enabled(request),
        # The composer offers the drive picker to whoever connected a folder.
        "drive_picker": bool(await my_drives(session, me)),
    }
    return templates_of(request).render(request, "chat/page.html", context)


@router.get("/")
async def new_chat(
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
    prompt: str | None = None,
    assistant: Annotated[str | None, Query(max_length=40)] = None,
    prompt_text: Annotated[str, Query(max_length=2000)] = "",
) -> HTMLResponse:
    """A new conversation; `?prompt=` fills the message box with a template, `?prompt_text=`
    with a question (an assistant's starter), `?assistant=` chooses an assistant."""
    prefill = prompt_text
    if prompt:
        prefill = await _prompt_text(request, me, session, prompt)
    return await _chat_page(
        request, me, data.csrf, session, None, prefill=prefill, chosen_assistant=assistant
    )


async def _prompt_text(request: Request, me: Principal, session: SessionDep, ref: str) -> str:
    view = await usable_prompt(session, me, ref, request_language(request))
    return str(view.body)


@router.get("/c/{conversation_id}")
async def conversation_page(
    conversation_id: uuid.UUID,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
) -> HTMLResponse:
    """One of my conversations, its latest messages first in view."""
    conversation = await service.owned(session, me, conversation_id)
    return await _chat_page(request, me, data.csrf, session, conversation)


@router.get("/c/{conversation_id}/messages")
async def earlier_messages(
    conversation_id: uuid.UUID,
    before: PositionCursor,
    request: Request,
    me: CurrentPrincipal,
    session: SessionDep,
) -> HTMLResponse:
    """The messages before a position, as a fragment (long conversations load by windows)."""
    conversation = await service.owned(session, me, conversation_id)
    window = await service.window(session, conversation, before=before)
    feedback = await service.feedback_of(session, window.messages)
    org = await session.get(Organisation, me.org_id)
    return templates_of(request).render(
        request,
        "chat/_messages.html",
        {
            "conversation": conversation,
            "messages": window.messages,
            "has_earlier": window.has_earlier,
            "feedback": feedback,
            "render": to_html,
            "impact_figures": impact_figures(request, org),
            "docs_enabled": docs_enabled(request),
        },
    )


@router.post("/c/{conversation_id}/rename")
async def rename(
    conversation_id: uuid.UUID, request: Request, me: CurrentPrincipal, session: SessionDep
) -> Response:
    """Rename a conversation (form field `title`)."""
    form = await request.form()
    await service.rename(session, me, conversation_id, forms.text(form, "title", 400))
    return RedirectResponse(f"/c/{conversation_id}", status_code=303)


@router.post("/c/{conversation_id}/delete")
async def delete(
    conversation_id: uuid.UUID, request: Request, me: CurrentPrincipal, session: SessionDep
) -> Response:
    """Delete a conversation and everything in it."""
    worker: IngestionWorker = services_of(request).documents
    await service.remove(session, me, conversation_id, worker.store)
    return RedirectResponse("/", status_code=303)


# -- files attached to a conversation --------------------------------------------------------


@router.post("/chat/attachments")
async def attach_file(request: Request, me: CurrentPrincipal, session: SessionDep) -> Response:
    """Attach a file (multipart `file`) to a conversation, created if `conversation_id` is
    empty; the answer says where its ingestion stands, to follow with the GET below."""
    worker: IngestionWorker = services_of(request).documents
    limit = worker.settings.max_file_bytes
    try:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit + MULTIPART_SLACK:
            raise FileTooLarge(limit)
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise MissingFile()
        async with request.form(max_files=1, max_fields=8) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise MissingFile()
            conversation_field = form.get("conversation_id")
            model_field = form.get("model")
            assistant_field = form.get("assistant_id")
            spooled = await worker.store.spool(_read(upload), limit)
            filename = upload.filename or "document"
        try:
            if isinstance(conversation_field, str) and conversation_field.strip():
                conversation = await service.owned(session, me, _uuid(conversation_field.strip()))
            else:
                chosen = _pick_model(
                    await usable_models(request, me),
                    model_field if isinstance(model_field, str) and model_field else None,
                )
                assistant_id = None
                if isinstance(assistant_field, str) and assistant_field.strip():
                    wanted = _assistant_uuid(assistant_field.strip())
                    assistant_id = (await usable_assistant(session, me, wanted)).id
                conversation = await service.create(session, me, chosen["id"], assistant_id)
                await session.commit()
        except BaseException:
            spooled.discard()
            raise
        document = await attach(session, worker.store, me, conversation, filename, spooled)
    except AutanError as exc:
        return _error_json(request, exc)
    return JSONResponse(
        {"conversation_id": str(conversation.id), "document": _attachment(request, document)},
        status_code=201,
    )


@router.get("/chat/attachments/{document_id}")
async def attachment_status(
    document_id: uuid.UUID, request: Request, me: CurrentPrincipal, session: SessionDep
) -> Response:
    """Where the ingestion of one of my attached files stands."""
    document = await owned_attachment(session, me, document_id)
    if document is None:
        return _error_json(request, MessageNotFound())
    return JSONResponse(_attachment(request, document))


@router.post("/chat/attachments/{document_id}/delete")
async def remove_attachment(
    document_id: uuid.UUID, request: Request, me: CurrentPrincipal, session: SessionDep
) -> Response:
    """Take a file off its conversation (before sending, or later): it is deleted."""
    if await owned_attachment(session, me, document_id) is None:
        return _error_json(request, MessageNotFound())
    worker: IngestionWorker = services_of(request).documents
    await delete_document(session, worker.store, me, document_id)
    return Response(status_code=204)


def _assistant_uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise AssistantNotFound() from None


def _attachment(request: Request, document: Document) -> dict[str, Any]:
    lang = request_language(request)
    templates = templates_of(request)
    states = {
        "queued": "Waiting to be read",
        "parsing": "Reading",
        "indexing": "Indexing",
        "ready": "Ready",
        "failed": "Could not be read",
    }
    return {
        "id": str(document.id),
        "name": document.name,
        "status": str(document.status),
        "label": templates.gettext(lang, states.get(str(document.status), "Reading")),
        "progress": round(float(document.progress), 3),
        "error": _failure(templates, lang, document),
    }


def _failure(templates: Templates, lang: str, document: Document) -> str | None:
    """Why a document could not be read, in the reader's language, values filled in."""
    if document.error_template and document.error_values:
        return fill_in(templates, lang, document.error_template, document.error_values)
    return templates.gettext(lang, document.error) if document.error else None


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ConversationNotFound() from None


async def _read(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(1024 * 1024):
        yield chunk


@router.post("/messages/{message_id}/feedback")
async def feedback(
    message_id: uuid.UUID,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
) -> HTMLResponse:
    """Thumb up or down (`rating` = 1 or -1) and an optional comment on an answer."""
    form = await request.form()
    rating = forms.whole_number(form, "rating", -1, 1)
    given = await service.give_feedback(
        session,
        me,
        message_id,
        rating or 0,
        forms.text(form, "comment", 4000),
        share_case=form.get("share_case") == "1",
    )
    return templates_of(request).render(
        request,
        "chat/_feedback.html",
        {"message_id": message_id, "given": given, "saved": True, "csrf_token": data.csrf},
    )


# -- a turn: the streamed answer -------------------------------------------------------------


def _error_text(request: Request, exc: AutanError) -> str:
    """The error as its reader should see it, in their language, with its numbers."""
    readable = readable_message(exc)
    if readable != exc.message:
        # A model failure: a fixed sentence instead of one naming the model.
        return templates_of(request).gettext(request_language(request), readable)
    return translate(request, exc)


def _error_json(request: Request, exc: AutanError) -> Response:
    """The API's error answer (one mapping, `core.error_handlers`), its message translated
    for the page's script, which shows it as is."""
    return error_response(
        STATUS_OF_KIND[exc.kind],
        _error_text(request, exc),
        type_=exc.kind.value,
        param=exc.param,
        code=exc.code,
        retry_after=exc.retry_after,
    )


def _parse_turn(body: Any, lang: str) -> TurnRequest:
    if not isinstance(body, dict):
        raise InvalidRequest("The request could not be read. Reload the page.")
    action = body.get("action", "send")
    if action not in ("send", "edit", "regenerate"):
        raise InvalidRequest("The request could not be read. Reload the page.")
    try:
        conversation_id = (
            uuid.UUID(body["conversation_id"]) if body.get("conversation_id") else None
        )
    except (ValueError, TypeError, AttributeError):
        raise InvalidRequest("The request could not be read. Reload the page.") from None
    position = body.get("position")
    try:
        assistant_id = uuid.UUID(body["assistant_id"]) if body.get("assistant_id") else None
    except (ValueError, TypeError, AttributeError):
        raise InvalidRequest("The request could not be read. Reload the page.") from None
    content, model, history = body.get("content", ""), body.get("model"), body.get("history", [])
    temporary = body.get("temporary", False)
    web_search = body.get("web_search")
    # `bool` is an `int` in Python: a position must be a number, and fit its 32-bit column.
    if (
        not isinstance(content, str)
        or (model is not None and (not isinstance(model, str) or len(model) > 200))
        or (
            position is not None
            and (
                not isinstance(position, int)
                or isinstance(position, bool)
                or not 0 <= position <= INT32_MAX
            )
        )
        or not isinstance(temporary, bool)
        or (web_search is not None and not isinstance(web_search, bool))
    ):
        raise InvalidRequest("The request could not be read. Reload the page.")
    return TurnRequest(
        action=action,
        content=content,
        model=model,
        conversation_id=conversation_id,
        position=position,
        temporary=temporary,
        assistant_id=assistant_id,
        history=history,
        lang=lang,
        web_search=web_search,
    )


def _sse(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


async def _events(
    request: Request, source: AsyncIterator[TurnEvent], notice: str = ""
) -> AsyncIterator[bytes]:
    # A comment first, so proxies and the page see the stream open at once.
    yield b": stream open\n\n"
    if notice:  # e.g. a Docs document the person may no longer read
        yield _sse("notice", {"message": notice})
    try:
        async for event in source:
            data = event.data
            if event.name == "error":
                exc: AutanError = data["error"]
                data = {
                    "message": _error_text(request, exc),
                    "code": exc.code,
                    "message_id": data.get("message_id"),
                }
            yield _sse(event.name, data)
    finally:
        await source.aclose()  # type: ignore[attr-defined]


@router.post("/chat/turn")
async def turn(request: Request, me: CurrentPrincipal, models: ModelsDep) -> Response:
    """Ask a question (or edit one, or ask for another answer) and stream the answer.

    Refusals (quota, unknown model, empty message) come back as JSON before anything is
    stored or streamed, so the page keeps the question where its author wrote it.
    """
    lang = request_language(request)
    try:
        raw = await request.body()
        if len(raw) > MAX_TURN_BODY:
            raise InvalidRequest(
                "The message is too long. Shorten it, or attach the text as a document."
            )
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise InvalidRequest("The request could not be read. Reload the page.") from None
        wanted = _parse_turn(body, lang)
        chosen = _pick_model(await usable_models(request, me), wanted.model)
        turns = _turns(request)
        conversation, history = await turns.prepare(me, wanted, chosen["id"])
        wanted.docs_links, notice = await check_before_turn(request, me, conversation)
    except AutanError as exc:
        return _error_json(request, exc)
    source = turns.run(me, wanted, chosen["id"], chosen["context_length"], conversation, history)
    return EventStreamResponse(_events(request, source, notice))
