"""Pages of the blind comparison: the member's arena, and the referents' leaderboard.

Signed-in only (router-level dependencies, deny by default) and after the usage charter.
A member reads only their own comparisons (`service.owned`); the leaderboard goes through
`managed_org` like every administration page and shows counts and scores, never content.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts.principal import Principal
from autan.arena import pairs, service
from autan.arena.leaderboard import MIN_VOTES
from autan.arena.models import Verdict
from autan.arena.views import interval_chart, to_csv
from autan.chat.markdown import to_html
from autan.core.error_handlers import STATUS_OF_KIND, error_response
from autan.core.errors import AutanError, InvalidRequest
from autan.core.params import Slug
from autan.deps import CurrentPrincipal, CurrentSession, SessionDep, principal
from autan.openai_api.streaming import EventStreamResponse
from autan.prompts.library import CATEGORIES
from autan.services import services_of
from autan.suitedocs.web_access import check_before_turn
from autan.web.charter_guard import require_charter
from autan.web.errors import translate
from autan.web.org_frame import managed_org, render_admin_page
from autan.web.pages import render_page, templates_of, usable_models
from autan.web.templating import request_language

router = APIRouter(
    include_in_schema=False, dependencies=[Depends(principal), Depends(require_charter)]
)
MAX_QUESTION = 100_000  # longer is refused by `check_content`, with a clear message
UseCase = Annotated[str | None, Query(max_length=service.MAX_USE_CASE)]


async def _arena_page(
    request: Request,
    me: Principal,
    csrf: str,
    session: AsyncSession,
    *,
    typed: dict[str, str] | None = None,
    error: AutanError | None = None,
) -> HTMLResponse:
    context: dict[str, Any] = {
        "categories": CATEGORIES,
        "typed": typed or {},
        "error": translate(request, error) if error else "",
        "recent": await service.recent(session, me),
    }
    status = STATUS_OF_KIND[error.kind] if error else 200
    return await render_page(request, "arena/page.html", me, csrf, session, context, status)


@router.get("/arena")
async def arena_page(
    request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> HTMLResponse:
    """Ask one question to two anonymous models."""
    return await _arena_page(request, me, data.csrf, session)


@router.post("/arena")
async def start_comparison(
    request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> Response:
    """Ask two allowed models; on a refusal the form comes back with what was typed."""
    form = await request.form()
    question = str(form.get("question", ""))[: MAX_QUESTION + 1]
    label = str(form.get("label", "")).strip()
    category = str(form.get("category", ""))
    use_case = label or (category if category in CATEGORIES else "")
    services = services_of(request)
    try:
        comparison_id = await pairs.compare(
            session,
            services.session_factory,
            services.turns,
            services.model_access,
            services.quotas,
            me,
            pairs.Asked(question, use_case, request_language(request)),
            await _context_length(request, me),
        )
    except AutanError as exc:
        typed = {"question": question, "label": label[:200], "category": category}
        return await _arena_page(request, me, data.csrf, session, typed=typed, error=exc)
    return RedirectResponse(f"/arena/{comparison_id}", status_code=303)


@router.get("/arena/{comparison_id}")
async def comparison_page(
    comparison_id: uuid.UUID,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
) -> HTMLResponse:
    """The two answers side by side; the models once the member has voted."""
    shown = await service.shown(session, me, comparison_id)
    context = {
        "shown": shown,
        "html_a": to_html(shown.answer_a.content) if shown.answer_a else "",
        "html_b": to_html(shown.answer_b.content) if shown.answer_b else "",
        "categories": CATEGORIES,
    }
    return await render_page(request, "arena/comparison.html", me, data.csrf, session, context)


@router.post("/chat/compare")
async def compare_in_chat(request: Request, me: CurrentPrincipal, session: SessionDep) -> Response:
    """Two anonymous answers to the composer's question, streamed side by side (SSE).

    Refusals (one model only, quota, empty question, not your conversation) come back as
    JSON before anything is stored or counted, so the page keeps what was typed.
    """
    services = services_of(request)
    lang = request_language(request)
    try:
        body = await request.json()
        if not isinstance(body, dict) or not isinstance(body.get("content", ""), str):
            raise InvalidRequest("The request could not be read. Reload the page.")
        asked = pairs.Asked(
            body.get("content", "")[: MAX_QUESTION + 1],
            lang=lang,
            conversation_id=_id_field(body.get("conversation_id")),
            assistant_id=_id_field(body.get("assistant_id")),
        )
        pair = await pairs.open_pair(session, services.model_access, services.quotas, me, asked)
        # The Docs documents of the conversation, checked with the member's access, as
        # before any turn (a notice says which ones are left out).
        pair.request.docs_links, notice = await check_before_turn(request, me, pair.conversation)
    except ValueError:
        return _error_json(
            request, InvalidRequest("The request could not be read. Reload the page.")
        )
    except AutanError as exc:
        return _error_json(request, exc)
    context_length = await _context_length(request, me, pair.models)
    events = pairs.answer_pair(services.session_factory, services.turns, me, pair, context_length)
    return EventStreamResponse(_pair_events(request, pair, events, notice))


def _id_field(value: object) -> uuid.UUID | None:
    if value in (None, ""):
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InvalidRequest("The request could not be read. Reload the page.") from None


async def _context_length(
    request: Request, me: Principal, models: tuple[str, ...] | None = None
) -> int | None:
    """The smallest context of the pair's models (of all usable ones before they are
    picked): one grounded prompt must fit both."""
    lengths = [
        m["context_length"]
        for m in await usable_models(request, me)
        if m.get("context_length") and (models is None or m["id"] in models)
    ]
    return min(lengths, default=None)


def _error_json(request: Request, exc: AutanError) -> Response:
    return error_response(
        STATUS_OF_KIND[exc.kind],
        translate(request, exc),
        type_=exc.kind.value,
        param=exc.param,
        code=exc.code,
        retry_after=exc.retry_after,
    )


def _sse(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


async def _pair_events(
    request: Request,
    pair: pairs.Pair,
    events: AsyncIterator[pairs.PairEvent],
    notice: str = "",
) -> AsyncIterator[bytes]:
    gettext = templates_of(request).gettext
    lang = request_language(request)
    try:
        async for event in events:
            if event.kind == "pair":
                yield _sse(
                    "pair",
                    {
                        "comparison_id": str(pair.comparison_id),
                        "conversation_id": str(pair.conversation_id),
                        "title": pair.title,
                    },
                )
                if notice:  # e.g. a Docs document the member may no longer read
                    yield _sse("notice", {"message": notice})
            elif event.kind == "sources":
                yield _sse("sources", {"sources": event.sources})
            else:
                text = gettext(lang, event.text) if event.kind == "error" else event.text
                yield _sse(event.kind, {"side": event.side, "text": text})
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    yield _sse("end", {})


@router.post("/arena/{comparison_id}/vote")
async def vote(
    comparison_id: uuid.UUID, request: Request, me: CurrentPrincipal, session: SessionDep
) -> Response:
    """Record which answer was better (or a tie, or both bad), then reveal the models.

    The chat's pair asks for JSON (the models to reveal in place); the /arena page is
    sent back to the comparison. The use case may be chosen with the vote.
    """
    form = await request.form()
    try:
        verdict = Verdict(str(form.get("verdict", "")))
    except ValueError:
        raise InvalidRequest("Choose one of the four answers.", param="verdict") from None
    label = str(form.get("label", "")).strip()
    category = str(form.get("category", ""))
    use_case = label or (category if category in CATEGORIES else None)
    comparison = await service.vote(session, me, comparison_id, verdict, use_case)
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse(
            {
                "verdict": str(verdict),
                "model_a": comparison.model_a,
                "model_b": comparison.model_b,
            }
        )
    return RedirectResponse(f"/arena/{comparison_id}#verdict", status_code=303)


@router.get("/admin/orgs/{slug}/arena")
async def leaderboard_page(
    slug: Slug,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
    use_case: UseCase = None,
) -> HTMLResponse:
    """Scores of the models from the organisation's votes, per use case, with intervals."""
    org = await managed_org(session, slug, me)
    board = await service.board(session, org.id, use_case)
    context = {
        "board": board,
        "chart": interval_chart(board.standings),
        "use_case": use_case,
        "use_cases": await service.use_cases(session, org.id),
        "categories": CATEGORIES,
        "min_votes": MIN_VOTES,
    }
    return await render_admin_page(
        request, "arena/leaderboard.html", me, data.csrf, session, org, context
    )


@router.get("/admin/orgs/{slug}/arena.csv")
async def leaderboard_csv(
    slug: Slug, me: CurrentPrincipal, session: SessionDep, use_case: UseCase = None
) -> Response:
    """The leaderboard as CSV."""
    org = await managed_org(session, slug, me)
    board = await service.board(session, org.id, use_case)
    return Response(
        to_csv(board.standings),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="arena-{org.slug}.csv"'},
    )
