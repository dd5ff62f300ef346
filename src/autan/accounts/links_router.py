"""Invitations and password links through the API (the pages post to the same services)."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from autan.accounts import links, repository
from autan.accounts.models import Organisation, Role
from autan.accounts.permissions import OrganisationNotFound, require_org_manager
from autan.accounts.principal import Principal
from autan.core.params import Slug
from autan.deps import CurrentPrincipal, SessionDep, SettingsDep, principal

router = APIRouter(prefix="/api", tags=["Accounts"], dependencies=[Depends(principal)])


class InvitationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)
    name: str = Field("", max_length=200)
    role: Role = Role.MEMBER


class LinkOut(BaseModel):
    user_id: uuid.UUID
    email: str
    kind: str = Field(description="`invitation` or `reset`.")
    url: str = Field(description="The one-time link; shown once, stored only hashed.")
    expires_at: datetime


async def _managed(session: SessionDep, slug: str, me: Principal) -> Organisation:
    org = await repository.org_by_slug(session, slug)
    if org is None:
        raise OrganisationNotFound()
    require_org_manager(me, org.id)
    return org


def _out(request: Request, created: links.CreatedLink) -> LinkOut:
    return LinkOut(
        user_id=created.user.id,
        email=created.user.email,
        kind=created.row.kind,
        url=f"{str(request.base_url).rstrip('/')}/auth/link/{created.token}",
        expires_at=created.row.expires_at,
    )


@router.post("/orgs/{slug}/invitations", status_code=201)
async def create_invitation(
    slug: Slug,
    body: InvitationIn,
    request: Request,
    me: CurrentPrincipal,
    session: SessionDep,
    settings: SettingsDep,
) -> LinkOut:
    """Create a person in the organisation and a one-time link to choose their password."""
    org = await _managed(session, slug, me)
    created = await links.invite(
        session,
        org,
        me,
        email=body.email,
        name=body.name,
        role=body.role,
        hours=settings.sessions.link_valid_hours,
    )
    return _out(request, created)


@router.post("/orgs/{slug}/users/{user_id}/password-link", status_code=201)
async def create_password_link(
    slug: Slug,
    user_id: uuid.UUID,
    request: Request,
    me: CurrentPrincipal,
    session: SessionDep,
    settings: SettingsDep,
) -> LinkOut:
    """A one-time link for a member to choose a new password (or a new invitation)."""
    org = await _managed(session, slug, me)
    created = await links.reset_link(session, org, me, user_id, settings.sessions.link_valid_hours)
    return _out(request, created)
