"""Assistants API: referents and admins manage their organisation's; members list them."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Response

from autan.accounts import repository
from autan.accounts.models import Organisation
from autan.accounts.permissions import OrganisationNotFound, require_org_manager
from autan.accounts.principal import Principal
from autan.assistants import service
from autan.assistants.errors import AssistantNotFound
from autan.assistants.schemas import AssistantIn, AssistantOut, AssistantPatch
from autan.deps import CurrentPrincipal, ModelsDep, SessionDep, principal

router = APIRouter(prefix="/api", tags=["Assistants"], dependencies=[Depends(principal)])


async def _managed_org(session: SessionDep, slug: str, principal: Principal) -> Organisation:
    org = await repository.org_by_slug(session, slug)
    if org is None:
        raise OrganisationNotFound()
    require_org_manager(principal, org.id)
    return org


def _assistant_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise AssistantNotFound() from None


@router.get("/assistants")
async def my_assistants(principal: CurrentPrincipal, session: SessionDep) -> list[AssistantOut]:
    """The assistants of my organisation, which I can use."""
    return await service.usable_assistants(session, principal)


@router.get("/orgs/{slug}/assistants")
async def list_assistants(
    slug: str, principal: CurrentPrincipal, session: SessionDep
) -> list[AssistantOut]:
    """The organisation's assistants, for its referents."""
    org = await _managed_org(session, slug, principal)
    return await service.list_assistants(session, org.id)


@router.post("/orgs/{slug}/assistants", status_code=201)
async def create_assistant(
    slug: str,
    body: AssistantIn,
    principal: CurrentPrincipal,
    session: SessionDep,
    models: ModelsDep,
) -> AssistantOut:
    """Create an assistant for the organisation's members."""
    org = await _managed_org(session, slug, principal)
    return await service.create_assistant(session, principal, org.id, body, models.chat_models())


@router.patch("/orgs/{slug}/assistants/{assistant_id}")
async def update_assistant(
    slug: str,
    assistant_id: str,
    body: AssistantPatch,
    principal: CurrentPrincipal,
    session: SessionDep,
    models: ModelsDep,
) -> AssistantOut:
    """Change an assistant."""
    org = await _managed_org(session, slug, principal)
    return await service.update_assistant(
        session, principal, org.id, _assistant_id(assistant_id), body, models.chat_models()
    )


@router.delete("/orgs/{slug}/assistants/{assistant_id}", status_code=204)
async def delete_assistant(
    slug: str, assistant_id: str, principal: CurrentPrincipal, session: SessionDep
) -> Response:
    """Delete an assistant."""
    org = await _managed_org(session, slug, principal)
    await service.delete_assistant(session, org.id, _assistant_id(assistant_id))
    return Response(status_code=204)
