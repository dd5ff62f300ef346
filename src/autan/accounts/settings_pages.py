"""Personal settings: profile, language, export of one's data, "delete all my data".

Mounted by `autan.app` with the session and charter dependencies.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts import erasure
from autan.accounts.models import User
from autan.accounts.principal import Principal
from autan.chat import export
from autan.deps import CurrentPrincipal, CurrentSession, SessionDep, client_ip
from autan.documents import service as documents
from autan.documents.worker import IngestionWorker
from autan.retention import service as retention
from autan.services import services_of
from autan.web import forms
from autan.web.errors import translate
from autan.web.pages import page_context, templates_of
from autan.web.templating import LANG_COOKIE, LANGUAGES, request_language

router = APIRouter()

# The word to type to confirm the erasure, in either language, in any case.
CONFIRM_WORDS = {"fr": "SUPPRIMER", "en": "DELETE"}


async def _settings_page(
    request: Request,
    me: Principal,
    csrf: str,
    session: AsyncSession,
    *,
    display_name: str | None = None,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    context = await page_context(request, me, csrf, session)
    if display_name is None:
        user = await session.get(User, me.user_id)
        display_name = user.display_name if user else ""
    context |= {
        "display_name": display_name,
        "languages": LANGUAGES,
        "saved": request.query_params.get("saved") == "1",
        "error": error,
        "retention": await retention.rule_of(session, me.org_id),
    }
    return templates_of(request).render(
        request, "settings/index.html", context, status_code=status_code
    )


@router.get("/settings")
async def settings_page(
    request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> HTMLResponse:
    """My settings: display name, language, API keys, export, erasure."""
    return await _settings_page(request, me, data.csrf, session)


@router.post("/settings")
async def save_settings(
    request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> Response:
    """Save the display name and the language (kept in the `lang` cookie, as `/lang` does)."""
    form = await request.form()
    typed = str(form.get("display_name", ""))[:300]
    try:
        name = forms.text(form, "display_name", 200)
        lang = forms.text(form, "lang", 8)
        if lang not in LANGUAGES:
            raise forms.FormError("Choose a language from the list.", "lang")
    except forms.FormError as exc:
        return await _settings_page(
            request,
            me,
            data.csrf,
            session,
            display_name=typed,
            error=translate(request, exc),
            status_code=400,
        )
    user = await session.get(User, me.user_id)
    assert user is not None  # the session's principal was just loaded
    user.display_name = name
    await session.commit()
    response = RedirectResponse("/settings?saved=1", status_code=303)
    response.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600, samesite="lax", path="/")
    return response


def _attachment(body: bytes, media_type: str, extension: str) -> Response:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    name = f"autan-export-{stamp}.{extension}"
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/settings/export.json")
async def export_json(me: CurrentPrincipal, session: SessionDep) -> Response:
    """All my conversations, messages, sources and feedback (and my templates), as JSON."""
    document = await export.export_json(session, me.user_id)
    body = json.dumps(document, ensure_ascii=False, indent=2).encode()
    return _attachment(body, "application/json", "json")


@router.get("/settings/export.zip")
async def export_zip(request: Request, me: CurrentPrincipal, session: SessionDep) -> Response:
    """All my conversations, one Markdown file each, in a zip (in my language)."""
    archive = await export.export_markdown_zip(session, me.user_id, request_language(request))
    return _attachment(archive, "application/zip", "zip")


async def _delete_page(
    request: Request,
    me: Principal,
    csrf: str,
    session: AsyncSession,
    *,
    error: str = "",
    typed: str = "",
    done: erasure.ErasureCounts | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = await page_context(request, me, csrf, session)
    context |= {
        "counts": done or await erasure.count_my_data(session, me.user_id),
        "done": done is not None,
        "word": CONFIRM_WORDS[request_language(request)],
        "error": error,
        "typed": typed,
    }
    return templates_of(request).render(
        request, "settings/delete.html", context, status_code=status_code
    )


@router.get("/settings/delete")
async def delete_page(
    request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> HTMLResponse:
    """What "delete all my data" removes, and the confirmation to type."""
    return await _delete_page(request, me, data.csrf, session)


@router.post("/settings/delete")
async def delete_my_data(
    request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> HTMLResponse:
    """Delete everything listed once the confirmation word is typed; say what went."""
    form = await request.form()
    typed = str(form.get("confirm", ""))[:50]
    try:
        if forms.text(form, "confirm", 50).upper() not in CONFIRM_WORDS.values():
            raise forms.FormError(
                "Type the word {word} to confirm.",
                "confirm",
                word=CONFIRM_WORDS[request_language(request)],
            )
    except forms.FormError as exc:
        return await _delete_page(
            request,
            me,
            data.csrf,
            session,
            error=translate(request, exc),
            typed=typed,
            status_code=400,
        )
    result = await erasure.erase_my_data(session, me, client_ip(request))
    # The files are stored by content: remove those no other document still uses.
    worker: IngestionWorker = services_of(request).documents
    await documents.remove_unreferenced(session, worker.store, result.document_digests)
    return await _delete_page(request, me, data.csrf, session, done=result.counts)
