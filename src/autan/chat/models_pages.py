"""The models page: the chat models a person may use, what each is for, its speed and the
answer benchmark's figures."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from autan.chat.model_figures import figures_of
from autan.deps import CurrentPrincipal, CurrentSession, SessionDep
from autan.web.pages import render_page, usable_models

router = APIRouter()


@router.get("/models")
async def models_page(
    request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> HTMLResponse:
    """Each usable chat model with its description, speed and benchmark figures."""
    models = [m | {"figures": figures_of(m["id"])} for m in await usable_models(request, me)]
    return await render_page(
        request, "chat/models.html", me, data.csrf, session, {"models": models}
    )
