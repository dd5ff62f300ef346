"""Translate a document ("Traduire un document"): upload, follow the progress, download.

Every job is its owner's alone (`translation.service.owned`); the file comes back in its
own format (Markdown, DOCX or ODT) with its structure.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile

from autan.accounts.principal import Principal
from autan.core.errors import AutanError, InvalidRequest
from autan.deps import CurrentPrincipal, CurrentSession, SessionDep, principal
from autan.exports.files import MEDIA, file_stem
from autan.translation import service
from autan.translation.errors import TranslationNotFound, TranslationTooLarge
from autan.translation.models import TranslationJob, TranslationStatus
from autan.web.charter_guard import require_charter
from autan.web.errors import translate
from autan.web.pages import render_page, templates_of, usable_models

router = APIRouter(
    include_in_schema=False, dependencies=[Depends(principal), Depends(require_charter)]
)


async def _jobs(session: AsyncSession, me: Principal) -> list[TranslationJob]:
    rows = await session.scalars(
        select(TranslationJob)
        .where(TranslationJob.user_id == me.user_id)
        .order_by(TranslationJob.created_at.desc())
        .limit(20)
    )
    return list(rows)


async def _form_page(
    request: Request,
    me: Principal,
    csrf: str,
    session: AsyncSession,
    error: str = "",
    status_code: int = 200,
    deleted: bool = False,
) -> HTMLResponse:
    context: dict[str, Any] = {
        "languages": service.LANGUAGES,
        "models": await usable_models(request, me),
        "jobs": await _jobs(session, me),
        "error": error,
        "deleted": deleted,
    }
    return await render_page(
        request, "translation/index.html", me, csrf, session, context, status_code
    )


@router.get("/translate")
async def translate_page(
    request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> HTMLResponse:
    """The upload form and the person's latest translations."""
    deleted = request.query_params.get("deleted") == "1"
    return await _form_page(request, me, data.csrf, session, deleted=deleted)


async def _upload(upload: UploadFile) -> bytes:
    chunks, size = [], 0
    while chunk := await upload.read(64 * 1024):
        size += len(chunk)
        if size > service.MAX_BYTES:
            raise TranslationTooLarge(service.MAX_BYTES // (1024 * 1024))
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/translate", response_model=None)
async def start_translation(
    request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> HTMLResponse | RedirectResponse:
    """Start translating the uploaded file into the chosen language."""
    try:
        async with request.form(max_files=1, max_fields=8) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise InvalidRequest("Choose a file to translate.", param="file")
            content = await _upload(upload)
            name = upload.filename
            target = str(form.get("target") or "")
            wanted = str(form.get("model") or "")
        models = [m["id"] for m in await usable_models(request, me)]
        if not models:
            raise InvalidRequest("No model is available to your organisation.")
        model = wanted if wanted in models else models[0]
        job = await service.create(session, me, name, content, target, model)
    except AutanError as exc:
        await session.rollback()
        return await _form_page(request, me, data.csrf, session, translate(request, exc), 400)
    return RedirectResponse(f"/translate/{job.id}", status_code=303)


def _view(job: TranslationJob) -> dict[str, Any]:
    total = max(job.sections_total, 1)
    return {
        "job": job,
        "percent": int(100 * job.sections_done / total),
        "finished": job.status in (TranslationStatus.DONE, TranslationStatus.FAILED),
        "language": service.LANGUAGES.get(job.target_lang, job.target_lang),
    }


@router.get("/translate/{job_id}")
async def translation_page(
    job_id: uuid.UUID,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
) -> HTMLResponse:
    """One translation: its progress, then its download."""
    job = await service.owned(session, me, job_id)
    return await render_page(request, "translation/job.html", me, data.csrf, session, _view(job))


@router.get("/translate/{job_id}/progress")
async def translation_progress(
    job_id: uuid.UUID, request: Request, me: CurrentPrincipal, session: SessionDep
) -> HTMLResponse:
    """The part of the page that changes, polled while the translation runs."""
    job = await service.owned(session, me, job_id)
    return templates_of(request).render(request, "translation/_progress.html", _view(job))


@router.get("/translate/{job_id}/download")
async def download_translation(
    job_id: uuid.UUID, me: CurrentPrincipal, session: SessionDep
) -> Response:
    """The translated document, in its original format."""
    job = await service.owned(session, me, job_id)
    await session.refresh(job, ["result"])  # deferred: only the download reads it
    if job.result is None:
        raise TranslationNotFound()
    stem = file_stem(job.file_name.rsplit(".", 1)[0])
    name = f"{stem}-{job.target_lang}.{job.fmt}"
    return Response(
        job.result,
        media_type=MEDIA[job.fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/translate/{job_id}/delete")
async def delete_translation_page(
    job_id: uuid.UUID,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
) -> HTMLResponse:
    """Ask before deleting a translation (a page, so that it works without JavaScript)."""
    job = await service.owned(session, me, job_id)
    return await render_page(request, "translation/delete.html", me, data.csrf, session, _view(job))


@router.post("/translate/{job_id}/delete")
async def delete_translation(
    job_id: uuid.UUID, me: CurrentPrincipal, session: SessionDep
) -> RedirectResponse:
    """Delete the translation, its uploaded file and its result, even while it runs."""
    await service.delete(session, me, job_id)
    return RedirectResponse("/translate?deleted=1", status_code=303)
