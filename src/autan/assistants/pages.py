"""Pages of the assistants: a gallery for everyone, a builder for referents and admins.

The builder calls the same `assistants.service` functions as the API. An assistant belongs
to the caller's organisation; one of another organisation answers "not found". A draft
("managers" audience) is seen and tried only by the organisation's referents and admins
until it is published to every member.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from autan.accounts.models import Role
from autan.accounts.permissions import require_org_manager
from autan.accounts.principal import Principal
from autan.assistants import service
from autan.assistants.errors import AssistantNotFound
from autan.assistants.schemas import MAX_STARTERS, AssistantIn, AssistantPatch
from autan.core.error_handlers import STATUS_OF_KIND
from autan.core.errors import AutanError
from autan.deps import CurrentPrincipal, CurrentSession, ModelsDep, SessionDep, principal
from autan.documents import service as documents
from autan.services import services_of
from autan.suitedocs.service import assistant_links
from autan.web import forms
from autan.web.charter_guard import require_charter
from autan.web.errors import translate
from autan.web.pages import render_page, usable_models

router = APIRouter(
    include_in_schema=False, dependencies=[Depends(principal), Depends(require_charter)]
)

# Form fields and their limits (the schema's, with room to report a too-long value).
_LIMITS = {"name": 120, "description": 2000, "instructions": 20_000, "model": 200}


def _manager(me: Principal) -> bool:
    return me.role in (Role.ADMIN, Role.REFERENT)


def _assistant_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise AssistantNotFound() from None


@router.get("/assistants")
async def gallery(
    request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> HTMLResponse:
    """The assistants of my organisation that I may use; drafts too for its managers."""
    found = await service.usable_assistants(session, me)
    context = {
        "assistants": found,
        "can_build": _manager(me),
        "notice": request.query_params.get("done", ""),
    }
    return await render_page(request, "workspace/assistants.html", me, data.csrf, session, context)


def _typed(form: FormData) -> dict[str, Any]:
    """What was typed, bounded, to show again if something must be corrected."""
    raw = {name: str(form.get(name, ""))[: limit + 50] for name, limit in _LIMITS.items()}
    return raw | {
        "starters": str(form.get("starters", ""))[:4000],
        "audience": "organisation" if form.get("audience") == "organisation" else "managers",
        "collections": [str(c)[:40] for c in form.getlist("collections")[:60]],
    }


def _parse(form: FormData) -> dict[str, Any]:
    """The fields of an assistant, or a `FormError` naming the one to correct."""
    values: dict[str, Any] = {n: forms.text(form, n, limit) for n, limit in _LIMITS.items()}
    if not values["name"]:
        raise forms.FormError("Give the assistant a name.", "name")
    starters = [line.strip() for line in forms.text(form, "starters", 4000).splitlines()]
    starters = [s for s in starters if s]
    if len(starters) > MAX_STARTERS:
        raise forms.FormError("Too many starter questions: keep six at most.", "starters")
    if any(len(line) > 300 for line in starters):
        raise forms.FormError(
            "A starter question is too long (300 characters at most).", "starters"
        )
    collections = []
    for value in form.getlist("collections")[:50]:
        try:
            collections.append(uuid.UUID(str(value)))
        except ValueError:
            raise forms.FormError("Choose collections from the list.", "collections") from None
    return values | {
        "model": values["model"] or None,
        "starters": starters,
        "collections": collections,
        "audience": "organisation" if form.get("audience") == "organisation" else "managers",
    }


async def _form_page(
    request: Request,
    me: Principal,
    csrf: str,
    session: AsyncSession,
    *,
    form: dict[str, Any],
    assistant_id: uuid.UUID | None = None,
    error: AutanError | None = None,
) -> HTMLResponse:
    require_org_manager(me, me.org_id)
    collections = await documents.list_collections(session, me)
    context = {
        "form": form,
        "assistant_id": assistant_id,
        "models": await usable_models(request, me),
        "collections": [c for c, _n in collections],
        "max_starters": MAX_STARTERS,
        "error": translate(request, error) if error else "",
        "error_field": error.param if error else None,
        "docs_enabled": bool(services_of(request).settings.docs.url),
        "docs_links": await assistant_links(session, me, assistant_id) if assistant_id else [],
    }
    status = STATUS_OF_KIND[error.kind] if error else 200
    return await render_page(
        request, "workspace/assistant_form.html", me, csrf, session, context, status
    )


_EMPTY: dict[str, Any] = {
    "name": "",
    "description": "",
    "instructions": "",
    "model": "",
    "starters": "",
    "audience": "managers",
    "collections": [],
}


@router.get("/assistants/new")
async def new_assistant_page(
    request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> HTMLResponse:
    """An empty builder (referents and admins)."""
    return await _form_page(request, me, data.csrf, session, form=dict(_EMPTY))


async def _save(
    request: Request,
    me: Principal,
    csrf: str,
    session: AsyncSession,
    models: ModelsDep,
    assistant_id: uuid.UUID | None,
) -> Response:
    require_org_manager(me, me.org_id)
    form = await request.form()
    typed = _typed(form)
    try:
        values = _parse(form)
        if assistant_id is None:
            saved = await service.create_assistant(
                session, me, me.org_id, AssistantIn(**values), models.chat_models()
            )
        else:
            saved = await service.update_assistant(
                session, me, me.org_id, assistant_id, AssistantPatch(**values), models.chat_models()
            )
    except ValidationError:
        error = forms.FormError("Some of the information sent is not valid.", "name")
        return await _form_page(
            request, me, csrf, session, form=typed, assistant_id=assistant_id, error=error
        )
    except AutanError as exc:
        await session.rollback()
        return await _form_page(
            request, me, csrf, session, form=typed, assistant_id=assistant_id, error=exc
        )
    return RedirectResponse(f"/assistants/{saved.id}/edit?saved=1", status_code=303)


@router.post("/assistants/new")
async def create_assistant(
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
    models: ModelsDep,
) -> Response:
    """Save a new assistant; on a mistake the builder comes back with what was typed."""
    return await _save(request, me, data.csrf, session, models, None)


@router.get("/assistants/{assistant_id}/edit")
async def edit_assistant_page(
    assistant_id: str,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
) -> HTMLResponse:
    """The builder of an assistant of my organisation, with a link to try it."""
    require_org_manager(me, me.org_id)
    row = await service.get_assistant(session, me.org_id, _assistant_id(assistant_id))
    links = await service.collections_of(session, [row.id])
    form = {
        "name": row.name,
        "description": row.description,
        "instructions": row.instructions,
        "model": row.model or "",
        "starters": "\n".join(row.starters or []),
        "audience": row.audience,
        "collections": [str(c) for c in links[row.id]],
        "saved": request.query_params.get("saved") == "1",
    }
    return await _form_page(request, me, data.csrf, session, form=form, assistant_id=row.id)


@router.post("/assistants/{assistant_id}/edit")
async def update_assistant(
    assistant_id: str,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
    models: ModelsDep,
) -> Response:
    """Save changes to an assistant."""
    wanted = _assistant_id(assistant_id)
    require_org_manager(me, me.org_id)
    await service.get_assistant(session, me.org_id, wanted)
    return await _save(request, me, data.csrf, session, models, wanted)


@router.get("/assistants/{assistant_id}/delete")
async def delete_assistant_page(
    assistant_id: str,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
) -> HTMLResponse:
    """Ask before deleting an assistant."""
    require_org_manager(me, me.org_id)
    row = await service.get_assistant(session, me.org_id, _assistant_id(assistant_id))
    context = {"assistant": row}
    return await render_page(
        request, "workspace/delete_assistant.html", me, data.csrf, session, context
    )


@router.post("/assistants/{assistant_id}/delete")
async def delete_assistant(
    assistant_id: str, me: CurrentPrincipal, session: SessionDep
) -> RedirectResponse:
    """Delete an assistant (its collections stay)."""
    require_org_manager(me, me.org_id)
    await service.delete_assistant(session, me.org_id, _assistant_id(assistant_id))
    return RedirectResponse("/assistants?done=deleted", status_code=303)
