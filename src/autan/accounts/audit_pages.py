"""The audit log for people: who did what, on what, in words; filters, pages and CSV export.

Referents read their organisation's rows; administrators any organisation's, or every
organisation's at once (`everywhere=true`). Names come from `accounts.audit_log`.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse

from autan.accounts import audit_log
from autan.core.db import utcnow
from autan.core.params import BigIdCursor, Slug
from autan.deps import CurrentPrincipal, CurrentSession, SessionDep, principal
from autan.web.org_frame import managed_org, render_admin_page
from autan.web.pages import templates_of
from autan.web.templating import request_language

router = APIRouter(prefix="/admin", include_in_schema=False, dependencies=[Depends(principal)])

_PAGE_SIZE = 50


ActionParam = Annotated[str, Query(max_length=64)]
ActorParam = Annotated[str, Query(max_length=200)]


DayParam = Annotated[str, Query(max_length=10, description="A day, YYYY-MM-DD; empty: none.")]
EverywhereParam = Annotated[
    bool, Query(description="Every organisation's rows (administrators only).")
]


def _action_choices(request: Request) -> list[tuple[str, str]]:
    """Every action and its label in the reader's language, in that language's order."""
    templates, lang = templates_of(request), request_language(request)
    labels = [(code, templates.gettext(lang, label)) for code, label in audit_log.LABELS.items()]
    return sorted(labels, key=lambda item: item[1].casefold())


@router.get("/orgs/{slug}/audit")
async def audit_page(
    slug: Slug,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
    action: ActionParam = "",
    actor: ActorParam = "",
    since: DayParam = "",
    until: DayParam = "",
    everywhere: EverywhereParam = False,
    before_id: BigIdCursor = None,
) -> HTMLResponse:
    """The organisation's audit log (an admin's choice: every organisation's), newest first,
    filtered, a page at a time."""
    org = await managed_org(session, slug, me)
    wanted = audit_log.parse_filter(action, actor, since, until)
    scope = audit_log.scope(me, org.id, everywhere)
    rows = await audit_log.events(session, scope, wanted, limit=_PAGE_SIZE + 1, before_id=before_id)
    shown = rows[:_PAGE_SIZE]
    query = wanted.query() | ({"everywhere": "true"} if scope is None else {})
    older = {**query, "before_id": str(shown[-1].id)} if len(rows) > _PAGE_SIZE else None
    context = {
        "events": shown,
        "filter": wanted,
        "actions": _action_choices(request),
        "older": urlencode(older) if older else "",
        "newest": urlencode(query) if before_id is not None else None,
        "export": urlencode(query),
        "everywhere": scope is None,
    }
    return await render_admin_page(
        request, "admin/audit.html", me, data.csrf, session, org, context
    )


_EXPORT_MAX = 100_000


@router.get("/orgs/{slug}/audit.csv")
async def audit_export(
    slug: Slug,
    request: Request,
    me: CurrentPrincipal,
    session: SessionDep,
    action: ActionParam = "",
    actor: ActorParam = "",
    since: DayParam = "",
    until: DayParam = "",
    everywhere: EverywhereParam = False,
) -> Response:
    """The filtered audit log as CSV, in the reader's language."""
    org = await managed_org(session, slug, me)
    wanted = audit_log.parse_filter(action, actor, since, until)
    scope = audit_log.scope(me, org.id, everywhere)
    rows = await audit_log.events(session, scope, wanted, limit=_EXPORT_MAX)
    lang = request_language(request)
    templates = templates_of(request)
    text = audit_log.to_csv(rows, lambda msg: templates.gettext(lang, msg))
    filename = f"audit-{org.slug}-{utcnow().date().isoformat()}.csv"
    return Response(
        # A byte-order mark, so that spreadsheets open French accents right.
        "\ufeff" + text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
