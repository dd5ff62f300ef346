"""Pages of the prompt library: browse, use, write, share, edit and delete templates.

Like every signed-in router, this one needs a session (router-level dependency, deny by
default) and waits for the charter to be accepted (`require_charter`).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts.models import Role
from autan.accounts.principal import Principal
from autan.core.error_handlers import STATUS_OF_KIND
from autan.core.errors import AutanError
from autan.deps import CurrentPrincipal, CurrentSession, SessionDep, principal
from autan.prompts import service as prompts
from autan.prompts.errors import InvalidPrompt, SharingNotAllowed
from autan.prompts.library import CATEGORIES
from autan.prompts.models import Visibility
from autan.web.charter_guard import require_charter
from autan.web.errors import translate
from autan.web.pages import render_page
from autan.web.templating import request_language

router = APIRouter(
    include_in_schema=False, dependencies=[Depends(principal), Depends(require_charter)]
)


@router.get("/prompts")
async def prompts_page(
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
    q: Annotated[str, Query(max_length=200)] = "",
    category: Annotated[str, Query(max_length=32)] = "",
) -> HTMLResponse:
    """The library: built-in, own and shared templates, with search and categories."""
    category = category if category in CATEGORIES else ""
    found = await prompts.list_prompts(session, me, request_language(request), q, category)
    context = {
        "prompts": found,
        "q": q,
        "category": category,
        "categories": CATEGORIES,
        "created": request.query_params.get("saved") == "1",
        "deleted": request.query_params.get("deleted") == "1",
    }
    return await render_page(request, "prompts/list.html", me, data.csrf, session, context)


def _typed(form: Any) -> dict[str, str]:
    return {
        "title": str(form.get("title", ""))[: prompts.TITLE_MAX + 50],
        "body": str(form.get("body", ""))[: prompts.BODY_MAX + 100],
        "category": str(form.get("category", ""))[:32],
        "visibility": str(form.get("visibility", Visibility.PRIVATE))[:16],
    }


async def _form_page(
    request: Request,
    me: Principal,
    csrf: str,
    session: AsyncSession,
    *,
    form: dict[str, str],
    prompt_id: uuid.UUID | None = None,
    error: AutanError | None = None,
) -> HTMLResponse:
    context = {
        "form": form,
        "prompt_id": prompt_id,
        "categories": CATEGORIES,
        "can_share": me.role in (Role.ADMIN, Role.REFERENT),
        "error": translate(request, error) if error else "",
        "error_field": error.param if error else None,
    }
    status = STATUS_OF_KIND[error.kind] if error else 200
    return await render_page(request, "prompts/form.html", me, csrf, session, context, status)


@router.get("/prompts/new")
async def new_prompt_page(
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
    start: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    """An empty form, or a copy of a template to adapt (`?start=builtin:<slug>` or an id)."""
    form = {"title": "", "body": "", "category": "other", "visibility": Visibility.PRIVATE}
    if start:
        source = await prompts.usable_prompt(session, me, start, request_language(request))
        form |= {"title": source.title, "body": source.body, "category": source.category}
    return await _form_page(request, me, data.csrf, session, form=form)


@router.post("/prompts/new")
async def create_prompt(
    request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> Response:
    """Save a new template; on a mistake the form comes back with what was typed."""
    form = _typed(await request.form())
    try:
        await prompts.create_prompt(session, me, **form)
    except (InvalidPrompt, SharingNotAllowed) as exc:
        return await _form_page(request, me, data.csrf, session, form=form, error=exc)
    return RedirectResponse("/prompts?saved=1", status_code=303)


@router.get("/prompts/{prompt_id}/edit")
async def edit_prompt_page(
    prompt_id: uuid.UUID,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
) -> HTMLResponse:
    """Edit a template one may change (one's own; a referent also the shared ones)."""
    row = await prompts.editable_prompt(session, me, prompt_id)
    form = {
        "title": row.title,
        "body": row.body,
        "category": row.category,
        "visibility": row.visibility,
    }
    return await _form_page(request, me, data.csrf, session, form=form, prompt_id=row.id)


@router.post("/prompts/{prompt_id}/edit")
async def update_prompt(
    prompt_id: uuid.UUID,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
) -> Response:
    form = _typed(await request.form())
    try:
        await prompts.update_prompt(session, me, prompt_id, **form)
    except (InvalidPrompt, SharingNotAllowed) as exc:
        return await _form_page(
            request, me, data.csrf, session, form=form, prompt_id=prompt_id, error=exc
        )
    return RedirectResponse("/prompts?saved=1", status_code=303)


@router.get("/prompts/{prompt_id}/delete")
async def delete_prompt_page(
    prompt_id: uuid.UUID,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
) -> HTMLResponse:
    """Ask before deleting a template."""
    row = await prompts.editable_prompt(session, me, prompt_id)
    context = {"prompt": row}
    return await render_page(request, "prompts/delete.html", me, data.csrf, session, context)


@router.post("/prompts/{prompt_id}/delete")
async def delete_prompt(
    prompt_id: uuid.UUID, me: CurrentPrincipal, session: SessionDep
) -> RedirectResponse:
    await prompts.delete_prompt(session, me, prompt_id)
    return RedirectResponse("/prompts?deleted=1", status_code=303)
