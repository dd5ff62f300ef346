"""The composer's drive picker: browse a connected folder one level at a time, attach files.

`GET /drives/picker` renders one level (sub-folders, files with size and date) into the
composer's menu; `POST /chat/attachments/drive` attaches one picked file to the
conversation (created if the page has none yet, as for an upload) and answers like
`POST /chat/attachments`, so the page follows its ingestion the same way.
"""

from __future__ import annotations

import uuid
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.numbers import format_decimal
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from autan.accounts.principal import Principal
from autan.assistants.errors import AssistantNotFound
from autan.assistants.service import usable_assistant
from autan.chat import service as chat
from autan.chat.attachments import attach
from autan.chat.errors import ConversationNotFound
from autan.chat.models import Conversation
from autan.connectors import picker
from autan.connectors.errors import DriveError, DriveNotFound
from autan.connectors.webdav import FolderEntry
from autan.core.error_handlers import STATUS_OF_KIND, error_response
from autan.core.errors import AutanError
from autan.deps import CurrentPrincipal, SessionDep, principal
from autan.llm.errors import ModelNotFound
from autan.services import services_of
from autan.web.charter_guard import require_charter
from autan.web.errors import translate
from autan.web.pages import templates_of, usable_models
from autan.web.templating import request_language

router = APIRouter(
    include_in_schema=False, dependencies=[Depends(principal), Depends(require_charter)]
)

TIMEZONE = ZoneInfo("Europe/Paris")


def _id(value: str, error: AutanError) -> uuid.UUID:
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise error from None


def _size(request: Request, size: int) -> str:
    lang = request_language(request)
    templates = templates_of(request)
    if size >= 1024 * 1024:
        number = format_decimal(round(size / (1024 * 1024), 1), locale=lang)
        return templates.gettext(lang, "{size} MB").format(size=number)
    number = format_decimal(max(1, round(size / 1024)) if size else 0, locale=lang)
    return templates.gettext(lang, "{size} KB").format(size=number)


def _row(request: Request, entry: FolderEntry) -> dict[str, Any]:
    lang = request_language(request)
    return {
        "entry": entry,
        "size": "" if entry.folder else _size(request, entry.size),
        "modified": format_datetime(entry.modified, "short", tzinfo=TIMEZONE, locale=lang)
        if entry.modified
        else "",
    }


@router.get("/drives/picker")
async def drive_picker(
    request: Request, me: CurrentPrincipal, session: SessionDep, drive: str = "", path: str = ""
) -> HTMLResponse:
    """One level of one of my connected folders (the only one, or the one chosen)."""
    drives = await picker.my_drives(session, me)
    context: dict[str, Any] = {"drives": drives, "level": None, "rows": [], "error": ""}
    chosen = None
    if drive:
        chosen = await picker.my_drive(session, me, _id(drive, DriveNotFound()))
    elif len(drives) == 1:
        chosen = drives[0]
    if chosen is not None:
        try:
            level = await picker.browse(services_of(request).drives.access, chosen, path)
        except DriveError as exc:
            # Said in the menu, in plain words: the page around it stays as it was.
            context["error"] = translate(request, exc)
            context["chosen"] = chosen
        else:
            context["level"] = level
            context["rows"] = [_row(request, entry) for entry in level.entries]
    return templates_of(request).render(request, "drives/_picker.html", context)


async def _conversation(
    me: Principal, session: AsyncSession, form: FormData
) -> Conversation | None:
    """The page's conversation, or None when the page has none yet."""
    given = str(form.get("conversation_id") or "")
    if given.strip():
        return await chat.owned(session, me, _id(given, ConversationNotFound()))
    return None


async def _new_conversation(
    request: Request, me: Principal, session: AsyncSession, form: FormData
) -> Conversation:
    """A conversation for the first file of a new page, with its model and assistant."""
    models = await usable_models(request, me)
    wanted = str(form.get("model") or "")
    chosen = next((m for m in models if m["id"] == wanted), None)
    if chosen is None and (wanted or not models):
        raise ModelNotFound(wanted)
    model = chosen or models[0]
    assistant_id = None
    if str(form.get("assistant_id") or "").strip():
        wanted_assistant = _id(str(form.get("assistant_id")), AssistantNotFound())
        assistant_id = (await usable_assistant(session, me, wanted_assistant)).id
    conversation = await chat.create(session, me, model["id"], assistant_id)
    await session.commit()
    return conversation


@router.post("/chat/attachments/drive")
async def attach_from_drive(
    request: Request, me: CurrentPrincipal, session: SessionDep
) -> Response:
    """Attach one file of one of my connected folders (form fields `drive_id`, `path`)."""
    services = services_of(request)
    worker = services.documents
    try:
        form = await request.form(max_files=0, max_fields=8)
        drive = await picker.my_drive(session, me, _id(str(form.get("drive_id")), DriveNotFound()))
        conversation = await _conversation(me, session, form)
        path = str(form.get("path") or "")
        spooled = await picker.download(
            services.drives.access, worker.store, drive, path, worker.settings.max_file_bytes
        )
        try:
            if conversation is None:
                conversation = await _new_conversation(request, me, session, form)
        except BaseException:
            spooled.discard()
            raise
        document = await attach(
            session, worker.store, me, conversation, path.rsplit("/", 1)[-1], spooled
        )
    except AutanError as exc:
        return error_response(
            STATUS_OF_KIND[exc.kind],
            translate(request, exc),
            type_=exc.kind.value,
            param=exc.param,
            code=exc.code,
        )
    lang = request_language(request)
    return JSONResponse(
        {
            "conversation_id": str(conversation.id),
            "document": {
                "id": str(document.id),
                "name": document.name,
                "status": str(document.status),
                "label": templates_of(request).gettext(lang, "Waiting to be read"),
                "progress": 0.0,
                "error": None,
            },
        },
        status_code=201,
    )
