"""Account management API: my profile and keys, my organisation's access codes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from autan.accounts import audit_log, codes, keys, org_management, repository
from autan.accounts.models import AccessCode, ApiKey, Organisation
from autan.accounts.permissions import OrganisationNotFound, require_org_manager
from autan.accounts.principal import Principal
from autan.accounts.schemas import (
    AuditOut,
    CodeIn,
    CodeOut,
    CreatedKeyOut,
    KeyIn,
    KeyOut,
    MeOut,
    OrgOut,
    OrgPatch,
    QuotaIn,
    QuotaOut,
    UserOut,
    UserPatch,
)
from autan.core.errors import InvalidRequest
from autan.core.params import BigIdCursor, Offset, Slug
from autan.deps import CurrentPrincipal, SessionDep, SettingsDep, principal
from autan.services import services_of
from autan.web.templating import request_language

router = APIRouter(prefix="/api", tags=["Accounts"], dependencies=[Depends(principal)])
_FLAGS = ("web_search_allowed", "deep_research_allowed")


def _key_out(key: ApiKey) -> KeyOut:
    return KeyOut.model_validate(key, from_attributes=True)


def _code_out(row: AccessCode, secret: str, viewer: Principal) -> CodeOut:
    out = CodeOut.model_validate(row, from_attributes=True)
    out.code = codes.visible_code(secret, row, viewer)
    return out


async def _managed_org(session: SessionDep, slug: str, principal: Principal) -> Organisation:
    org = await repository.org_by_slug(session, slug)
    if org is None:
        raise OrganisationNotFound()
    require_org_manager(principal, org.id)
    return org


@router.get("/me")
async def me(principal: CurrentPrincipal, session: SessionDep) -> MeOut:
    """Who I am."""
    user = await repository.user_by_id(session, principal.user_id)
    org = await session.get(Organisation, principal.org_id)
    assert user is not None and org is not None
    return MeOut(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        role=user.role,
        organisation=org.slug,
    )


@router.get("/me/keys")
async def my_keys(principal: CurrentPrincipal, session: SessionDep) -> list[KeyOut]:
    """My API keys (secrets are never shown again)."""
    return [_key_out(k) for k in await keys.list_keys(session, principal.user_id)]


@router.post("/me/keys", status_code=201)
async def create_my_key(
    body: KeyIn, principal: CurrentPrincipal, session: SessionDep
) -> CreatedKeyOut:
    """Create an API key; its secret is in this answer only."""
    created = await keys.create_own_key(session, principal, body.name, body.expires_in_days)
    return CreatedKeyOut(**_key_out(created.key).model_dump(), secret=created.secret)


@router.delete("/keys/{key_id}")
async def revoke_key(key_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep) -> KeyOut:
    """Revoke a key: mine, or one in my scope as a referent or admin."""
    key = await keys.revoke_key(session, key_id, principal)
    return _key_out(key)


@router.get("/orgs/{slug}/codes")
async def list_codes(
    slug: Slug, principal: CurrentPrincipal, session: SessionDep, settings: SettingsDep
) -> list[CodeOut]:
    """The organisation's access codes (referents and admins)."""
    org = await _managed_org(session, slug, principal)
    secret = settings.resolved_secret_key()
    return [_code_out(r, secret, principal) for r in await codes.list_codes(session, org.id)]


@router.post("/orgs/{slug}/codes", status_code=201)
async def create_code(
    slug: Slug,
    body: CodeIn,
    principal: CurrentPrincipal,
    session: SessionDep,
    settings: SettingsDep,
) -> CodeOut:
    """Create an access code for the organisation."""
    org = await _managed_org(session, slug, principal)
    secret = settings.resolved_secret_key()
    created = await codes.create_code(
        session,
        secret,
        org=org,
        creator=principal,
        label=body.label,
        max_uses=body.max_uses,
        valid_days=body.valid_days,
        role=body.role,
    )
    return _code_out(created.row, secret, principal)


@router.delete("/orgs/{slug}/codes/{code_id}")
async def revoke_code(
    slug: Slug,
    code_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: SessionDep,
    settings: SettingsDep,
) -> CodeOut:
    """Withdraw an access code."""
    org = await _managed_org(session, slug, principal)
    row = await codes.revoke_code(session, org.id, code_id, principal)
    return _code_out(row, settings.resolved_secret_key(), principal)


async def _org_out(session: SessionDep, org: Organisation) -> OrgOut:
    rules = await org_management.quota_rules(session, org.id)
    return OrgOut(
        slug=org.slug,
        name=org.name,
        allowed_domains=org.allowed_domains,
        allowed_models=org.allowed_models,
        web_search_allowed=org.web_search_allowed,
        deep_research_allowed=org.deep_research_allowed,
        web_allowed_domains=org.web_allowed_domains,
        web_blocked_domains=org.web_blocked_domains,
        quotas=[QuotaOut.model_validate(r, from_attributes=True) for r in rules],
    )


@router.get("/orgs/{slug}")
async def get_org(slug: Slug, principal: CurrentPrincipal, session: SessionDep) -> OrgOut:
    """The organisation's settings (referents and admins)."""
    return await _org_out(session, await _managed_org(session, slug, principal))


@router.patch("/orgs/{slug}")
async def patch_org(
    slug: Slug, body: OrgPatch, principal: CurrentPrincipal, session: SessionDep
) -> OrgOut:
    """Change the organisation's settings."""
    org = await _managed_org(session, slug, principal)
    changes = body.model_dump(exclude_unset=True)
    move_domains = bool(changes.pop("move_domains", False))
    if any(changes.get(f, "") is None for f in ("name", *_FLAGS)):
        raise InvalidRequest("name, web_search_allowed and deep_research_allowed cannot be empty.")
    await org_management.update_org(session, org, changes, principal, move_domains=move_domains)
    return await _org_out(session, org)


@router.put("/orgs/{slug}/quotas")
async def put_quota(
    slug: Slug, body: QuotaIn, principal: CurrentPrincipal, session: SessionDep
) -> OrgOut:
    """Set the organisation's quota (for everyone, or for one role)."""
    org = await _managed_org(session, slug, principal)
    await org_management.set_quota(
        session, org, body.role, body.requests_per_minute, body.tokens_per_day, principal
    )
    return await _org_out(session, org)


@router.get("/orgs/{slug}/users")
async def list_users(
    slug: Slug,
    principal: CurrentPrincipal,
    session: SessionDep,
    q: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> list[UserOut]:
    """Search the organisation's users."""
    org = await _managed_org(session, slug, principal)
    users = await org_management.find_users(session, org.id, q, limit, offset)
    return [UserOut.model_validate(u, from_attributes=True) for u in users]


@router.patch("/orgs/{slug}/users/{user_id}")
async def patch_user(
    slug: Slug,
    user_id: uuid.UUID,
    body: UserPatch,
    principal: CurrentPrincipal,
    session: SessionDep,
) -> UserOut:
    """Change a user's role, or disable or re-enable them."""
    org = await _managed_org(session, slug, principal)
    user = await org_management.update_user(
        session, org.id, user_id, principal, role=body.role, is_active=body.is_active
    )
    return UserOut.model_validate(user, from_attributes=True)


@router.get("/orgs/{slug}/audit")
async def audit_events(
    slug: Slug,
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    action: Annotated[str, Query(max_length=64, description="An action code.")] = "",
    actor: Annotated[str, Query(max_length=200, description="Part of a name or email.")] = "",
    since: Annotated[str, Query(max_length=10, description="First day, YYYY-MM-DD.")] = "",
    until: Annotated[str, Query(max_length=10, description="Last day, YYYY-MM-DD.")] = "",
    everywhere: Annotated[
        bool, Query(description="Every organisation's rows (administrators only).")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_id: BigIdCursor = None,
) -> list[AuditOut]:
    """The organisation's audit log, newest first, in the words of the audit page (in the
    caller's language), filtered like it; page with `before_id` set to the last `id`."""
    org = await _managed_org(session, slug, principal)
    wanted = audit_log.parse_filter(action, actor, since, until)
    scope = audit_log.scope(principal, org.id, everywhere)
    rows = await audit_log.events(session, scope, wanted, limit=limit, before_id=before_id)
    templates, lang = services_of(request).templates, request_language(request)
    return [_audit_out(row, lambda msg: templates.gettext(lang, msg)) for row in rows]


def _audit_out(row: audit_log.AuditRow, gettext: Callable[[str], str]) -> AuditOut:
    target = gettext(row.target) if row.target_is_msgid else row.target
    return AuditOut(
        id=row.id,
        at=row.at,
        action=row.action,
        action_label=gettext(row.label),
        actor=gettext(row.actor) if row.actor_is_system else row.actor,
        actor_id=row.actor_id,
        target=target,
        target_deleted=row.target_deleted,
        target_raw=row.target_raw or None,
        organisation=row.organisation,
        org_id=row.org_id,
        ip=row.ip or None,
        details=row.details or {},
    )
