"""Assistants of an organisation: referents and admins manage them, members use them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts.models import Role
from autan.accounts.principal import Principal
from autan.assistants.errors import AssistantNotFound
from autan.assistants.models import Assistant, assistant_collections
from autan.assistants.schemas import AssistantIn, AssistantOut, AssistantPatch
from autan.documents.errors import NoChatModel
from autan.documents.permissions import readable_collection_ids


async def collections_of(
    session: AsyncSession, assistant_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The collection ids of each assistant."""
    found: dict[uuid.UUID, list[uuid.UUID]] = {a: [] for a in assistant_ids}
    if not assistant_ids:
        return found
    rows = await session.execute(
        select(assistant_collections.c.assistant_id, assistant_collections.c.collection_id).where(
            assistant_collections.c.assistant_id.in_(assistant_ids)
        )
    )
    for assistant_id, collection_id in rows.all():
        found[assistant_id].append(collection_id)
    return found


def out(assistant: Assistant, collections: list[uuid.UUID]) -> AssistantOut:
    """An assistant as the API shows it."""
    return AssistantOut(
        id=assistant.id,
        name=assistant.name,
        description=assistant.description,
        instructions=assistant.instructions,
        model=assistant.model,
        collections=sorted(collections, key=str),
        web_search=assistant.web_search,
        starters=list(assistant.starters or []),
        audience="managers" if assistant.audience == "managers" else "organisation",
        created_at=assistant.created_at,
        updated_at=assistant.updated_at,
    )


async def list_assistants(session: AsyncSession, org_id: uuid.UUID) -> list[AssistantOut]:
    """The organisation's assistants, by name, drafts included (for its managers)."""
    rows = list(
        await session.scalars(
            select(Assistant).where(Assistant.org_id == org_id).order_by(Assistant.name)
        )
    )
    links = await collections_of(session, [a.id for a in rows])
    return [out(a, links[a.id]) for a in rows]


def may_use(principal: Principal, assistant: Assistant) -> bool:
    """Members use published assistants of their organisation; its managers the drafts too."""
    if assistant.org_id != principal.org_id:
        return False
    return assistant.audience != "managers" or principal.role in (Role.ADMIN, Role.REFERENT)


async def usable_assistants(session: AsyncSession, principal: Principal) -> list[AssistantOut]:
    """The assistants of the caller's organisation that the caller may use, by name."""
    found = await list_assistants(session, principal.org_id)
    managers = principal.role in (Role.ADMIN, Role.REFERENT)
    return [a for a in found if managers or a.audience != "managers"]


async def usable_assistant(
    session: AsyncSession, principal: Principal, assistant_id: uuid.UUID
) -> Assistant:
    """An assistant the caller may use; any other is "not found"."""
    found = await session.get(Assistant, assistant_id)
    if found is None or not may_use(principal, found):
        raise AssistantNotFound()
    return found


async def get_assistant(
    session: AsyncSession, org_id: uuid.UUID, assistant_id: uuid.UUID
) -> Assistant:
    """An assistant of this organisation; any other is "not found"."""
    found = await session.get(Assistant, assistant_id)
    if found is None or found.org_id != org_id:
        raise AssistantNotFound()
    return found


def _check_model(model: str | None, chat_models: Sequence[str]) -> None:
    if model is not None and model not in chat_models:
        raise NoChatModel(model)


async def _set_collections(
    session: AsyncSession,
    principal: Principal,
    assistant_id: uuid.UUID,
    collections: Sequence[uuid.UUID],
) -> list[uuid.UUID]:
    # Only collections the referent can read; another is "not found" (existence not leaked).
    allowed = await readable_collection_ids(session, principal, list(dict.fromkeys(collections)))
    await session.execute(
        delete(assistant_collections).where(assistant_collections.c.assistant_id == assistant_id)
    )
    if allowed:
        await session.execute(
            insert(assistant_collections),
            [{"assistant_id": assistant_id, "collection_id": c} for c in allowed],
        )
    return list(allowed)


async def create_assistant(
    session: AsyncSession,
    principal: Principal,
    org_id: uuid.UUID,
    body: AssistantIn,
    chat_models: Sequence[str],
) -> AssistantOut:
    """A new assistant of the organisation (the caller manages it: checked by the router)."""
    _check_model(body.model, chat_models)
    assistant = Assistant(
        org_id=org_id,
        created_by=principal.user_id,
        name=body.name,
        description=body.description,
        instructions=body.instructions,
        model=body.model,
        web_search=body.web_search,
        starters=list(body.starters),
        audience=body.audience,
    )
    session.add(assistant)
    await session.flush()
    collections = await _set_collections(session, principal, assistant.id, body.collections)
    await session.commit()
    return out(assistant, collections)


async def update_assistant(
    session: AsyncSession,
    principal: Principal,
    org_id: uuid.UUID,
    assistant_id: uuid.UUID,
    patch: AssistantPatch,
    chat_models: Sequence[str],
) -> AssistantOut:
    """Change the fields given; `collections` replaces the whole list."""
    assistant = await get_assistant(session, org_id, assistant_id)
    changes: dict[str, Any] = patch.model_dump(exclude_unset=True)
    collections = changes.pop("collections", None)
    if "model" in changes:
        _check_model(changes["model"], chat_models)
    for field in ("name", "description", "instructions", "web_search", "starters", "audience"):
        if changes.get(field) is None:
            changes.pop(field, None)
    for field, value in changes.items():
        setattr(assistant, field, value)
    if collections is not None:
        await _set_collections(session, principal, assistant.id, collections)
    await session.flush()
    await session.commit()
    await session.refresh(assistant)
    links = await collections_of(session, [assistant.id])
    return out(assistant, links[assistant.id])


async def delete_assistant(
    session: AsyncSession, org_id: uuid.UUID, assistant_id: uuid.UUID
) -> None:
    """Delete an assistant (its collections stay)."""
    assistant = await get_assistant(session, org_id, assistant_id)
    await session.delete(assistant)
    await session.commit()
