"""The caller's Docs access for pages (their tokens live in a cookie or the table), and the
check of a conversation's Docs documents before a chat turn uses them.

An HTTP helper like `accounts.oidc_flow`: pages of several features import it.
"""

from __future__ import annotations

import uuid

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts.principal import Principal
from autan.chat.models import Conversation
from autan.services import services_of
from autan.suitedocs import service, tokens
from autan.suitedocs.client import DocsClient
from autan.web.templating import Templates, request_language


def docs_client(request: Request) -> DocsClient:
    """The Docs client of this deployment, or DocsNotConfigured."""
    return DocsClient(services_of(request).settings.docs)


def docs_enabled(request: Request) -> bool:
    """Whether this deployment is connected to a Docs server."""
    return bool(services_of(request).settings.docs.url)


async def docs_token(request: Request, session: AsyncSession, me: Principal) -> str | None:
    """The caller's Docs access: the ProConnect access token first, else their saved token."""
    secret = services_of(request).settings.resolved_secret_key()
    found = tokens.unseal(secret, request.cookies.get(tokens.DOCS_TOKEN_COOKIE), me.user_id)
    return found or await tokens.personal_token(session, secret, me.user_id)


async def check_before_turn(
    request: Request, me: Principal, conversation: Conversation | None
) -> tuple[list[uuid.UUID], str]:
    """The Docs documents a turn may use (checked now with the caller's access), and what
    to tell the caller about those it may not use."""
    if conversation is None or not docs_enabled(request):
        return [], ""
    async with services_of(request).session_factory() as session:
        links = await service.context_links(session, me, conversation.id, conversation.assistant_id)
        if not links:
            return [], ""
        token = await docs_token(request, session, me)
        found = await service.refresh(session, docs_client(request), me, token, links)
    templates: Templates = services_of(request).templates
    gettext = templates.translations[request_language(request)].gettext
    parts = []
    if found.lost:
        parts.append(
            gettext("You no longer have access to {titles} in Docs: it is no longer used.").format(
                titles=", ".join(f"« {t} »" for t in found.lost)
            )
        )
    if found.unverified:
        parts.append(
            gettext(
                "Docs could not confirm your access to {titles} (Docs unavailable or your "
                "access expired): it is not used for this answer."
            ).format(titles=", ".join(f"« {t} »" for t in found.unverified))
        )
    return [link.id for link in found.usable], " ".join(parts)
