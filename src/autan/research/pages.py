"""Pages of deep research ("Recherche approfondie"): start a run, follow it, stop, export.

Signed-in only (router-level dependency, deny by default) and after the usage charter;
every run is read through `research.service.owned`, scoped to its owner.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts.principal import Principal
from autan.chat.markdown import to_html
from autan.core.error_handlers import STATUS_OF_KIND
from autan.core.errors import AutanError
from autan.deps import CurrentPrincipal, CurrentSession, SessionDep, principal
from autan.exports.writers import DOCX, docx_bytes
from autan.research import service
from autan.research.models import ResearchJob
from autan.research.report import report_body
from autan.research.service import Research
from autan.services import services_of
from autan.web.charter_guard import require_charter
from autan.web.errors import translate
from autan.web.pages import page_context, templates_of, usable_models
from autan.web.templating import request_language

router = APIRouter(
    include_in_schema=False, dependencies=[Depends(principal), Depends(require_charter)]
)


def _research(request: Request) -> Research:
    return services_of(request).research


def _view(job: ResearchJob) -> dict[str, Any]:
    """What the page shows of a run."""
    return {"job": job, "report_html": to_html(report_body(job.report)) if job.report else ""}


@router.get("/research")
async def research_page(
    request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> HTMLResponse:
    """The form to start a run, and this person's runs."""
    return await _list_page(request, me, data.csrf, session, question="")


async def _list_page(
    request: Request,
    me: Principal,
    csrf: str,
    session: AsyncSession,
    *,
    question: str,
    error: AutanError | None = None,
) -> HTMLResponse:
    context = await page_context(request, me, csrf, session)
    context |= {
        "allowed": await _research(request).allowed(me),
        "runs": await service.recent(session, me),
        "question": question,
        "error": translate(request, error) if error else "",
    }
    status = STATUS_OF_KIND[error.kind] if error else 200
    return templates_of(request).render(request, "research/list.html", context, status_code=status)


@router.post("/research")
async def start_research(
    request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> Response:
    """Queue a run and show it; on a refusal the form comes back with the question typed."""
    form = await request.form()
    question = str(form.get("question", ""))[:4000]
    try:
        models = await usable_models(request, me)
        model = str(models[0]["id"]) if models else ""
        job = await _research(request).start(me, question, model, request_language(request))
    except AutanError as exc:
        return await _list_page(request, me, data.csrf, session, question=question, error=exc)
    return RedirectResponse(f"/research/{job.id}", status_code=303)


@router.get("/research/{job_id}")
async def research_run_page(
    job_id: uuid.UUID,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
) -> HTMLResponse:
    """One run: its plan, steps as they happen, sources and report."""
    job = await service.owned(session, me, job_id)
    context = await page_context(request, me, data.csrf, session) | _view(job)
    return templates_of(request).render(request, "research/run.html", context)


@router.get("/research/{job_id}/progress")
async def research_progress(
    job_id: uuid.UUID,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
) -> HTMLResponse:
    """The part of the run's page that changes, polled while the run works."""
    job = await service.owned(session, me, job_id)
    context = {"csrf_token": data.csrf, **_view(job)}
    return templates_of(request).render(request, "research/_progress.html", context)


@router.post("/research/{job_id}/stop")
async def stop_research(
    job_id: uuid.UUID, me: CurrentPrincipal, session: SessionDep
) -> RedirectResponse:
    """Stop a run; what it found is kept and its report written from it."""
    await service.request_stop(session, me, job_id)
    return RedirectResponse(f"/research/{job_id}", status_code=303)


@router.get("/research/{job_id}/report.md")
async def export_markdown(job_id: uuid.UUID, me: CurrentPrincipal, session: SessionDep) -> Response:
    """The report as a Markdown file."""
    job = await service.owned(session, me, job_id)
    return Response(
        job.report,
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="research-{job.id}.md"'},
    )


@router.get("/research/{job_id}/report.docx")
async def export_docx(job_id: uuid.UUID, me: CurrentPrincipal, session: SessionDep) -> Response:
    """The report as a Word document."""
    job = await service.owned(session, me, job_id)
    return Response(
        docx_bytes(job.report),
        media_type=DOCX,
        headers={"Content-Disposition": f'attachment; filename="research-{job.id}.docx"'},
    )
