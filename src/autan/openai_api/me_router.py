"""The caller's own account in the Albert API's shape: `/v1/me/info` and `/v1/me/usage`.

Both answer about the caller only: there is no user id to pass, so there is nothing to
guess. Albert's fields come first; Autan's (`role`, `organisation`) are extensions.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from autan.accounts.models import Organisation, User
from autan.accounts.principal import Principal
from autan.deps import CurrentPrincipal, SessionDep, principal
from autan.services import services_of
from autan.usage.account import UsageQuery, usage_page

router = APIRouter(prefix="/v1/me", tags=["Me (Albert API)"], dependencies=[Depends(principal)])

MAX_TIMESTAMP = 253_402_300_799
"""The last second of year 9999, the last a datetime holds."""

_Timestamp = Annotated[
    int | None, Query(ge=0, le=MAX_TIMESTAMP, description="Unix timestamp in seconds (UTC).")
]


def _timestamp(value: datetime) -> int:
    # SQLite gives naive datetimes back; every stored instant is UTC.
    return int(value.replace(tzinfo=value.tzinfo or UTC).timestamp())


async def _token_budgets(request: Request, principal: Principal) -> list[dict[str, Any]]:
    """The monthly budgets that apply to the caller (organisation's and role's), and what is
    left of each (an Autan extension)."""
    budgets = services_of(request).quotas.budgets
    if budgets is None:
        return []
    return [
        {
            "scope": "role" if status.role else "organisation",
            "role": status.role or None,
            "tokens_per_month": status.limit,
            "used": status.used,
            "remaining": status.remaining,
            "resets_at": _timestamp(datetime.combine(status.resets_on, time(), UTC)),
        }
        for status in await budgets.status(principal.org_id)
        if status.role in ("", principal.role)
    ]


async def _web_limits(request: Request, principal: Principal) -> dict[str, Any] | None:
    """The caller's web search and deep-research limits, and what they used of them (an
    Autan extension; None where the deployment has no web search). Searches per minute
    have no usage here: the window moves with every search."""
    services = services_of(request)
    if not services.web.available:
        return None
    rule = await services.quotas.rule_for(principal)
    runs, runs_limit = await services.research.daily_runs(principal)
    return {
        "searches_per_minute": rule.searches_per_minute,
        "searches_per_day": rule.searches_per_day,
        "searches_today": await services.quotas.searches_today(principal),
        "research_runs_per_day": runs_limit,
        "research_runs_today": runs,
    }


@router.get("/info")
async def me_info(
    request: Request, principal: CurrentPrincipal, session: SessionDep
) -> dict[str, Any]:
    """Who I am, my organisation, and the limits that apply to my model requests."""
    user = await session.get(User, principal.user_id)
    organisation = await session.get(Organisation, principal.org_id)
    rule = await services_of(request).quotas.rule_for(principal)
    pools = await services_of(request).model_access.allowed(principal)
    # Autan's quotas hold for all models at once; Albert lists limits per model, so each
    # model the caller may use carries the same shared limits.
    limits = [
        {"model": pool.config.id, "type": kind, "value": value}
        for pool in pools
        for kind, value in (("rpm", rule.requests_per_minute), ("tpd", rule.tokens_per_day))
    ]
    return {
        "object": "userInfo",
        "id": str(principal.user_id),
        "email": principal.email,
        "name": user.display_name if user is not None else "",
        "role": str(principal.role),
        "organization": str(principal.org_id),
        "organisation": {
            "id": str(principal.org_id),
            "name": organisation.name if organisation is not None else "",
        },
        "permissions": [],
        "limits": limits,
        # Web search is not a model: its limits stand apart from Albert's per-model list.
        "web_limits": await _web_limits(request, principal),
        # Albert's `budget` is money; Autan's budgets are tokens, in `token_budgets`.
        "budget": None,
        "token_budgets": await _token_budgets(request, principal),
        "expires_at": None,
        "created_at": _timestamp(user.created_at) if user is not None else None,
    }


@router.get("/usage")
async def me_usage(
    principal: CurrentPrincipal,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100, description="Rows per page (1-100).")] = 50,
    page: Annotated[int, Query(ge=1, le=10_000, description="Page number, from 1.")] = 1,
    order_by: Annotated[
        Literal["datetime", "cost", "total_tokens"], Query(description="Field to order by.")
    ] = "datetime",
    order_direction: Annotated[
        Literal["asc", "desc"], Query(description="Order direction.")
    ] = "desc",
    date_from: _Timestamp = None,
    date_to: _Timestamp = None,
    model: Annotated[str | None, Query(max_length=200, description="Only this model.")] = None,
    endpoint: Annotated[str | None, Query(max_length=32, description="Only this endpoint.")] = None,
) -> dict[str, Any]:
    """My model requests, newest first: counts only, never what was asked or answered."""
    query = UsageQuery(
        page=page,
        limit=limit,
        order_by=order_by,
        order_direction=order_direction,
        date_from=date_from,
        date_to=date_to,
        model=model,
        endpoint=endpoint,
    )
    return await usage_page(session, principal.user_id, query)
