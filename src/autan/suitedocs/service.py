"""Sending to Docs and Docs documents as context, always with the person's own access.

An attached document is read through Docs' API with the token of the person who attached
it. Before each use it is checked again (`refresh`): a new `updated_at` fetches the text
again; a 403 or 404 means the person lost access, so the copy is emptied, never used
again, and the person is told; without a valid token it is not used until checked.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts import audit
from autan.accounts.principal import Principal
from autan.assistants.errors import AssistantNotFound
from autan.assistants.models import Assistant
from autan.assistants.service import may_use
from autan.chat import service as chat
from autan.core.db import utcnow
from autan.suitedocs.client import DocsClient, DocsDocument, document_id
from autan.suitedocs.errors import (
    DocsDocumentNotFound,
    DocsForbidden,
    DocsLinkNotFound,
    DocsTokenMissing,
    DocsTokenRejected,
    DocsUnavailable,
)
from autan.suitedocs.models import DocsLink, LinkStatus

MAX_LINKS = 10


async def send(
    session: AsyncSession,
    client: DocsClient,
    principal: Principal,
    token: str | None,
    title: str,
    markdown: str,
) -> DocsDocument:
    """A new Docs document made from the Markdown text, in the person's Docs."""
    if not token:
        raise DocsTokenMissing()
    created = await client.create_from_markdown(token, title, markdown)
    audit.record(
        session,
        audit.Action.DOCS_SENT,
        actor_id=principal.user_id,
        org_id=principal.org_id,
        target=created.id,
    )
    await session.commit()
    return created


async def _place(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID | None,
    assistant_id: uuid.UUID | None,
) -> None:
    """Check that the person may attach here: their conversation, an assistant they use."""
    if conversation_id is not None:
        await chat.owned(session, principal, conversation_id)
    elif assistant_id is not None:
        assistant = await session.get(Assistant, assistant_id)
        if assistant is None or not may_use(principal, assistant):
            raise AssistantNotFound()
    else:
        raise DocsLinkNotFound()


def _mine(principal: Principal) -> ColumnElement[bool]:
    return DocsLink.user_id == principal.user_id


async def attach(
    session: AsyncSession,
    client: DocsClient,
    principal: Principal,
    token: str | None,
    address: str,
    *,
    conversation_id: uuid.UUID | None = None,
    assistant_id: uuid.UUID | None = None,
) -> DocsLink:
    """Attach a Docs document (address or id) as context, read now with the person's access."""
    docs_id = document_id(address)
    await _place(session, principal, conversation_id, assistant_id)
    if not token:
        raise DocsTokenMissing()
    document, content = await client.markdown(token, docs_id)
    link = await session.scalar(
        select(DocsLink).where(
            _mine(principal),
            DocsLink.docs_id == docs_id,
            DocsLink.conversation_id == conversation_id
            if conversation_id
            else DocsLink.assistant_id == assistant_id,
        )
    )
    if link is None:
        count = len(await links_of(session, principal, conversation_id, assistant_id))
        if count >= MAX_LINKS:
            raise DocsForbidden()
        link = DocsLink(
            user_id=principal.user_id,
            org_id=principal.org_id,
            conversation_id=conversation_id,
            assistant_id=assistant_id,
            docs_id=docs_id,
        )
        session.add(link)
    link.title = document.title[:300]
    link.content = content[: client.settings.max_content_chars]
    link.docs_updated_at = document.updated_at
    link.status = LinkStatus.OK
    link.checked_at = utcnow()
    audit.record(
        session,
        audit.Action.DOCS_ATTACHED,
        actor_id=principal.user_id,
        org_id=principal.org_id,
        target=docs_id,
    )
    await session.commit()
    return link


async def links_of(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID | None,
    assistant_id: uuid.UUID | None = None,
) -> list[DocsLink]:
    """The person's Docs documents attached to a conversation and/or an assistant."""
    places = []
    if conversation_id is not None:
        places.append(DocsLink.conversation_id == conversation_id)
    if assistant_id is not None:
        places.append(DocsLink.assistant_id == assistant_id)
    if not places:
        return []
    rows = await session.scalars(
        select(DocsLink).where(_mine(principal), or_(*places)).order_by(DocsLink.created_at)
    )
    return list(rows)


async def assistant_links(
    session: AsyncSession, principal: Principal, assistant_id: uuid.UUID
) -> list[DocsLink]:
    """The Docs documents attached to an assistant of the person's organisation."""
    rows = await session.scalars(
        select(DocsLink)
        .where(DocsLink.assistant_id == assistant_id, DocsLink.org_id == principal.org_id)
        .order_by(DocsLink.created_at)
    )
    return list(rows)


async def detach(session: AsyncSession, principal: Principal, link_id: uuid.UUID) -> DocsLink:
    """Remove one of the person's attached Docs documents."""
    link = await session.scalar(select(DocsLink).where(DocsLink.id == link_id, _mine(principal)))
    if link is None:
        raise DocsLinkNotFound()
    found: DocsLink = link
    await session.delete(found)
    await session.commit()
    return found


@dataclass(slots=True)
class Refreshed:
    """What a check found: what a turn may use, and what it may not (to tell the person)."""

    usable: list[DocsLink] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)


async def context_links(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID,
    assistant_id: uuid.UUID | None,
) -> list[DocsLink]:
    """The person's links on the conversation, and the links of its assistant (whoever
    attached them, within the person's organisation: each is checked with the person's
    own access before use)."""
    rows = await session.scalars(
        select(DocsLink)
        .where(
            or_(
                (DocsLink.conversation_id == conversation_id) & _mine(principal),
                (DocsLink.assistant_id == assistant_id) & (DocsLink.org_id == principal.org_id)
                if assistant_id is not None
                else DocsLink.id.is_(None),
            )
        )
        .order_by(DocsLink.created_at)
    )
    return list(rows)


async def refresh(
    session: AsyncSession,
    client: DocsClient,
    principal: Principal,
    token: str | None,
    links: list[DocsLink],
) -> Refreshed:
    """Check each link with the person's access; fetch again what changed in Docs.

    A 403/404 for the person who attached it marks the link lost for good (its copy is
    emptied); for someone else (an assistant's document) it is only left out of their turn.
    """
    result = Refreshed()
    for link in links:
        owner = link.user_id == principal.user_id
        if link.status == LinkStatus.LOST:
            result.lost.append(link.title)
            continue
        if not token:
            if owner:
                link.status = LinkStatus.UNVERIFIED
            result.unverified.append(link.title)
            continue
        try:
            meta = await client.retrieve(token, link.docs_id)
            if meta.updated_at != link.docs_updated_at or link.status != LinkStatus.OK:
                document, content = await client.markdown(token, link.docs_id)
                link.title = document.title[:300] or link.title
                link.content = content[: client.settings.max_content_chars]
                link.docs_updated_at = document.updated_at
                result.updated.append(link.title)
            link.status = LinkStatus.OK
            link.checked_at = utcnow()
            if link.content.strip():
                result.usable.append(link)
        except (DocsForbidden, DocsDocumentNotFound):
            if owner:
                link.status = LinkStatus.LOST
                link.content = ""
                link.checked_at = utcnow()
            result.lost.append(link.title)
        except DocsTokenRejected:
            if owner:
                link.status = LinkStatus.UNVERIFIED
            result.unverified.append(link.title)
        except DocsUnavailable:
            # Access cannot be checked: the copy waits, unused, for the next check.
            result.unverified.append(link.title)
    await session.commit()
    return result
