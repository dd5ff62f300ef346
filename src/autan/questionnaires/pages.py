"""Pages of questionnaires: members answer or dismiss; referents write them and read results.

Signed-in only (router-level dependencies, deny by default) and after the usage charter.
A member reaches only questionnaires meant for them (`service.for_member`); referents go
through `managed_org` like every administration page and see figures, never who answered what.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from autan.accounts.models import Organisation, Role
from autan.accounts.principal import Principal
from autan.core.error_handlers import STATUS_OF_KIND
from autan.core.errors import AutanError
from autan.core.params import Slug
from autan.deps import CurrentPrincipal, CurrentSession, SessionDep, principal
from autan.questionnaires import service
from autan.questionnaires.errors import InvalidAnswer
from autan.questionnaires.models import Period, QuestionKind
from autan.questionnaires.results import results, to_csv
from autan.web.charter_guard import require_charter
from autan.web.errors import translate
from autan.web.org_frame import managed_org, render_admin_page
from autan.web.pages import render_page, templates_of

router = APIRouter(
    include_in_schema=False, dependencies=[Depends(principal), Depends(require_charter)]
)
FORM_ROWS = 5  # question rows on the referent's form


# -- members ---------------------------------------------------------------------------------


@router.get("/questionnaires/banner")
async def banner(
    request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> HTMLResponse:
    """The discreet card the chat loads: the first questionnaire waiting, if any."""
    waiting = await service.pending(session, me)
    context = {"waiting": waiting[0] if waiting else None, "csrf_token": data.csrf}
    return templates_of(request).render(request, "questionnaires/_banner.html", context)


def _given(form: FormData, questions: list[dict[str, Any]]) -> list[Any]:
    """The form's answers in the service's terms (numbers for scales and choices)."""
    given: list[Any] = []
    for index, question in enumerate(questions):
        name = f"q{index}"
        try:
            if question["kind"] == QuestionKind.MULTIPLE:
                given.append([int(str(v)) for v in form.getlist(name)])
            elif question["kind"] == QuestionKind.TEXT:
                given.append(str(form.get(name, ""))[: service.MAX_TEXT_ANSWER + 1])
            else:
                value = str(form.get(name, ""))
                given.append(int(value) if value else None)
        except ValueError:
            raise InvalidAnswer(
                "The answer to question {number} is not one of its choices.",
                param=name,
                number=index + 1,
            ) from None
    return given


@router.get("/questionnaires/{questionnaire_id}")
async def answer_page(
    questionnaire_id: uuid.UUID,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
) -> HTMLResponse:
    """The questionnaire to fill in, saying whether answers are anonymous."""
    questionnaire = await service.for_member(session, me, questionnaire_id)
    context = {"q": questionnaire, "typed": {}, "error": ""}
    return await render_page(request, "questionnaires/answer.html", me, data.csrf, session, context)


@router.post("/questionnaires/{questionnaire_id}")
async def submit_answers(
    questionnaire_id: uuid.UUID,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
) -> Response:
    """Store the answers; a refusal brings the form back with what was chosen."""
    questionnaire = await service.for_member(session, me, questionnaire_id)
    form = await request.form()
    try:
        await service.answer(session, me, questionnaire.id, _given(form, questionnaire.questions))
    except AutanError as exc:
        # A refused answer may have rolled the session back: read the questionnaire again.
        questionnaire = await service.for_member(session, me, questionnaire_id)
        typed = {key: form.getlist(key) for key in form}
        context = {"q": questionnaire, "typed": typed, "error": translate(request, exc)}
        return await render_page(
            request,
            "questionnaires/answer.html",
            me,
            data.csrf,
            session,
            context,
            STATUS_OF_KIND[exc.kind],
        )
    return RedirectResponse(f"/questionnaires/{questionnaire_id}/thanks", status_code=303)


@router.get("/questionnaires/{questionnaire_id}/thanks")
async def thanks_page(
    questionnaire_id: uuid.UUID,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
) -> HTMLResponse:
    """Thanks, and back to the conversations."""
    questionnaire = await service.for_member(session, me, questionnaire_id)
    context = {"q": questionnaire}
    return await render_page(request, "questionnaires/thanks.html", me, data.csrf, session, context)


@router.post("/questionnaires/{questionnaire_id}/dismiss")
async def dismiss(
    questionnaire_id: uuid.UUID, request: Request, me: CurrentPrincipal, session: SessionDep
) -> Response:
    """Not now: hidden until the next period (htmx removes the card; else back to the chat)."""
    await service.dismiss(session, me, questionnaire_id)
    if request.headers.get("hx-request"):
        return HTMLResponse("")
    return RedirectResponse("/", status_code=303)


# -- referents -------------------------------------------------------------------------------


def _draft(form: FormData) -> service.Draft:
    questions = [
        {
            "kind": str(form.get(f"kind{i}", QuestionKind.LIKERT)),
            "text": str(form.get(f"text{i}", ""))[: service.MAX_QUESTION + 100],
            "options": str(form.get(f"options{i}", "")).splitlines()[: service.MAX_OPTIONS + 1],
        }
        for i in range(FORM_ROWS)
    ]
    for question in questions:
        if question["kind"] not in set(QuestionKind):
            question["kind"] = QuestionKind.LIKERT
    audience = str(form.get("audience", ""))
    period = str(form.get("period", ""))
    return service.Draft(
        str(form.get("title", ""))[: service.MAX_TITLE + 100],
        questions,
        Role(audience) if audience in (Role.MEMBER, Role.REFERENT) else None,
        Period(period) if period in set(Period) else Period.ONCE,
        form.get("anonymous") == "on",
    )


async def _list_page(
    request: Request,
    me: Principal,
    csrf: str,
    session: AsyncSession,
    org: Organisation,
    *,
    draft: service.Draft | None = None,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    context = {
        "questionnaires": await service.of_org(session, org.id),
        "draft": draft,
        "rows": FORM_ROWS,
        "kinds": list(QuestionKind),
        "error": error,
        "saved": request.query_params.get("saved") == "1",
    }
    return await render_admin_page(
        request, "questionnaires/list.html", me, csrf, session, org, context, status_code
    )


@router.get("/admin/orgs/{slug}/questionnaires")
async def list_page(
    slug: Slug, request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> HTMLResponse:
    """The organisation's questionnaires and the form to write one."""
    org = await managed_org(session, slug, me)
    return await _list_page(request, me, data.csrf, session, org)


@router.post("/admin/orgs/{slug}/questionnaires")
async def create(
    slug: Slug, request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> Response:
    """Save and send a questionnaire; a refusal keeps everything typed."""
    org = await managed_org(session, slug, me)
    draft = _draft(await request.form())
    try:
        questionnaire = await service.create(session, org.id, me, draft)
    except AutanError as exc:
        return await _list_page(
            request,
            me,
            data.csrf,
            session,
            org,
            draft=draft,
            error=translate(request, exc),
            status_code=STATUS_OF_KIND[exc.kind],
        )
    return RedirectResponse(
        f"/admin/orgs/{org.slug}/questionnaires/{questionnaire.id}", status_code=303
    )


@router.get("/admin/orgs/{slug}/questionnaires/{questionnaire_id}")
async def results_page(
    slug: Slug,
    questionnaire_id: uuid.UUID,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
    period: str | None = None,
) -> HTMLResponse:
    """Response rate and per-question figures of one period."""
    org = await managed_org(session, slug, me)
    questionnaire = await service.managed(session, org.id, questionnaire_id)
    view = await results(session, questionnaire, period)
    return await render_admin_page(
        request, "questionnaires/results.html", me, data.csrf, session, org, {"view": view}
    )


@router.get("/admin/orgs/{slug}/questionnaires/{questionnaire_id}/results.csv")
async def results_csv(
    slug: Slug,
    questionnaire_id: uuid.UUID,
    me: CurrentPrincipal,
    session: SessionDep,
    period: str | None = None,
) -> Response:
    """The figures of one period as CSV (counts only)."""
    org = await managed_org(session, slug, me)
    questionnaire = await service.managed(session, org.id, questionnaire_id)
    view = await results(session, questionnaire, period)
    return Response(
        to_csv(view),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="questionnaire-{questionnaire.id}.csv"'
        },
    )


@router.post("/admin/orgs/{slug}/questionnaires/{questionnaire_id}/active")
async def set_active(
    slug: Slug,
    questionnaire_id: uuid.UUID,
    request: Request,
    me: CurrentPrincipal,
    session: SessionDep,
) -> RedirectResponse:
    """Close a questionnaire (members no longer see it) or open it again."""
    org = await managed_org(session, slug, me)
    active = (await request.form()).get("active") == "1"
    await service.set_active(session, org.id, questionnaire_id, active, me)
    return RedirectResponse(f"/admin/orgs/{org.slug}/questionnaires?saved=1", status_code=303)
