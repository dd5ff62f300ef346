"""The referents' pages added to the administration: feedback, usage (the cockpit), charter.

Mounted by `autan.app` with the session and charter dependencies. Every page goes
through `permissions.require_org_manager`, as the other administration pages do: another
organisation is "not found", a member is refused.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts import audit, charter
from autan.accounts.models import Organisation, Role
from autan.accounts.principal import Principal
from autan.core.params import Slug
from autan.deps import CurrentPrincipal, CurrentSession, SessionDep, client_ip
from autan.footprint.cockpit import footprint
from autan.insights import cases, cockpit, feedback
from autan.insights.usage_views import csv_of, usage_charts
from autan.web import forms
from autan.web.errors import translate
from autan.web.org_frame import managed_org, render_admin_page
from autan.web.templating import request_language

router = APIRouter(prefix="/admin")


@router.get("/orgs/{slug}/feedback")
async def feedback_page(
    slug: Slug, request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> HTMLResponse:
    """Thumbs up and down per model and per week, and the latest comments (never content)."""
    org = await managed_org(session, slug, me)
    summary = await feedback.feedback_summary(session, org.id)
    shared = len(await cases.shared_cases(session, org.id))
    context = {"summary": summary, "weeks": feedback.FEEDBACK_WEEKS, "shared_cases": shared}
    return await render_admin_page(
        request, "admin/feedback.html", me, data.csrf, session, org, context
    )


@router.get("/orgs/{slug}/evaluation-cases")
async def evaluation_cases(
    slug: Slug,
    request: Request,
    me: CurrentPrincipal,
    session: SessionDep,
    fmt: Literal["jsonl", "csv"] = "jsonl",
) -> Response:
    """The thumbs-down exchanges people agreed to share, as benchmark cases (audited)."""
    org = await managed_org(session, slug, me)
    shared = await cases.shared_cases(session, org.id)
    audit.record(
        session,
        audit.Action.CASES_EXPORTED,
        actor_id=me.user_id,
        org_id=org.id,
        ip=client_ip(request),
        cases=len(shared),
        format=fmt,
    )
    await session.commit()
    body = cases.as_jsonl(shared) if fmt == "jsonl" else cases.as_csv(shared)
    media = "application/x-ndjson" if fmt == "jsonl" else "text/csv"
    return Response(
        body,
        media_type=f"{media}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="cases-{org.slug}.{fmt}"'},
    )


Channel = Literal["", "web", "api"]
RoleFilter = Literal["", "member", "referent", "admin"]
Scope = Literal["org", "platform"]


@dataclass(frozen=True, slots=True)
class UsageQuery:
    """The cockpit's filters as the query string carries them."""

    days: Annotated[int, Query(ge=1, le=366)] = 30
    by: Annotated[cockpit.Granularity, Query()] = cockpit.Granularity.DAY
    model: Annotated[str, Query(max_length=200)] = ""
    channel: Annotated[Channel, Query()] = ""
    role: Annotated[RoleFilter, Query()] = ""
    scope: Annotated[Scope, Query()] = "org"

    def filters(self, org: Organisation, me: Principal) -> cockpit.Filters:
        """Platform-wide figures only for admins; a referent always sees their organisation."""
        platform = self.scope == "platform" and me.role == Role.ADMIN
        return cockpit.Filters(
            None if platform else org.id,
            self.days,
            self.by,
            self.model,
            self.channel,
            self.role,
        )

    def query_string(self) -> str:
        return urlencode({k: v for k, v in asdict(self).items() if v not in ("", None)})


UsageParams = Annotated[UsageQuery, Depends()]


@router.get("/orgs/{slug}/usage")
async def usage_page(
    slug: Slug,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
    params: UsageParams,
) -> HTMLResponse:
    """Usage at a glance: plots and tables of requests, tokens, users and feedback."""
    org = await managed_org(session, slug, me)
    view = await cockpit.overview(session, params.filters(org, me))
    context = {
        "view": view,
        "params": params,
        "charts": usage_charts(view),
        "periods": cockpit.PERIODS,
        "csv_query": params.query_string(),
        "footprint": await footprint(session, view.filters),
    }
    return await render_admin_page(
        request, "admin/usage.html", me, data.csrf, session, org, context
    )


@router.get("/orgs/{slug}/usage.csv")
async def usage_csv(
    slug: Slug,
    me: CurrentPrincipal,
    session: SessionDep,
    params: UsageParams,
    table: Literal["series", "models"] = "series",
) -> Response:
    """The figures of the usage page as CSV (per period bucket, or per model)."""
    org = await managed_org(session, slug, me)
    view = await cockpit.overview(session, params.filters(org, me))
    rows = view.series if table == "series" else view.by_model
    name = f"usage-{org.slug}-{table}-{params.days}d.csv"
    return Response(
        csv_of(rows, "bucket" if table == "series" else "model"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def _charter_page(
    request: Request,
    me: Principal,
    csrf: str,
    session: AsyncSession,
    org: Organisation,
    *,
    text: str | None = None,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    lang = request_language(request)
    current = charter.charter_text(org, lang)
    context = {
        "text": current if text is None else text,
        "preview": charter.render_html(current),
        "is_default": org.charter_text is None,
        "saved": request.query_params.get("saved") == "1",
        "error": error,
    }
    return await render_admin_page(
        request, "admin/charter.html", me, csrf, session, org, context, status_code
    )


@router.get("/orgs/{slug}/charter")
async def charter_page(
    slug: Slug, request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> HTMLResponse:
    """The organisation's usage charter, to edit."""
    org = await managed_org(session, slug, me)
    return await _charter_page(request, me, data.csrf, session, org)


@router.post("/orgs/{slug}/charter")
async def update_charter(
    slug: Slug, request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> Response:
    """Save a new text (empty: back to the default); everyone accepts it again."""
    org = await managed_org(session, slug, me)
    form = await request.form()
    typed = str(form.get("text", ""))[: charter.CHARTER_MAX + 100]
    try:
        if form.get("reset") == "1":
            text = ""
        else:
            text = forms.text(form, "text", charter.CHARTER_MAX)
            if not text:
                raise forms.FormError("Write the text of the charter.", "text")
        await charter.update_charter(session, org, text, me, client_ip(request))
    except forms.FormError as exc:
        return await _charter_page(
            request,
            me,
            data.csrf,
            session,
            org,
            text=typed,
            error=translate(request, exc),
            status_code=400,
        )
    return RedirectResponse(f"/admin/orgs/{org.slug}/charter?saved=1", status_code=303)
