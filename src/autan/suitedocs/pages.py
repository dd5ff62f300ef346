"""Docs from the chat: "Envoyer vers Docs", Docs documents as context, the Docs token.

Every route is the caller's own: a conversation or a message is read through
`chat.service.owned*`, an attached link through its owner; Docs itself is called with the
caller's access (their ProConnect access token, or the token they saved), never a shared one.
Answers are htmx fragments: the link to the new document, or the error in plain words.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts.models import Role
from autan.accounts.principal import Principal
from autan.chat import service as chat
from autan.core.errors import AutanError, Forbidden
from autan.deps import CurrentPrincipal, CurrentSession, SessionDep, principal
from autan.exports.conversation import answer_markdown, conversation_markdown
from autan.services import services_of
from autan.suitedocs import service, tokens
from autan.suitedocs.client import DocsDocument
from autan.suitedocs.errors import DocsNotConfigured
from autan.suitedocs.models import DocsLink
from autan.suitedocs.web_access import docs_client, docs_enabled, docs_token
from autan.web import forms
from autan.web.errors import translate
from autan.web.pages import render_page, templates_of
from autan.web.templating import request_language

router = APIRouter(include_in_schema=False, dependencies=[Depends(principal)])


def _fragment(request: Request, name: str, context: dict[str, Any]) -> HTMLResponse:
    return templates_of(request).render(request, name, context)


def _sent(request: Request, created: DocsDocument | None, error: str = "") -> HTMLResponse:
    return _fragment(request, "docs/_sent.html", {"created": created, "error": error})


@router.post("/c/{conversation_id}/docs/send")
async def send_conversation(
    conversation_id: uuid.UUID, request: Request, me: CurrentPrincipal, session: SessionDep
) -> HTMLResponse:
    """The whole conversation becomes a document in the caller's Docs."""
    conversation = await chat.owned(session, me, conversation_id)
    try:
        client = docs_client(request)
        messages = await chat.history(session, conversation, limit=100_000)
        text = conversation_markdown(conversation, messages, request_language(request))
        token = await docs_token(request, session, me)
        created = await service.send(
            session, client, me, token, conversation.title or "Conversation", text
        )
    except AutanError as exc:
        return _sent(request, None, translate(request, exc))
    return _sent(request, created)


@router.post("/messages/{message_id}/docs/send")
async def send_answer(
    message_id: uuid.UUID, request: Request, me: CurrentPrincipal, session: SessionDep
) -> HTMLResponse:
    """One answer (with its sources) becomes a document in the caller's Docs."""
    message, conversation = await chat.owned_message(session, me, message_id)
    try:
        client = docs_client(request)
        text = answer_markdown(conversation, message, request_language(request))
        token = await docs_token(request, session, me)
        created = await service.send(
            session, client, me, token, conversation.title or "Autan", text
        )
    except AutanError as exc:
        return _sent(request, None, translate(request, exc))
    return _sent(request, created)


async def _panel(
    request: Request,
    session: AsyncSession,
    me: Principal,
    csrf: str,
    conversation_id: uuid.UUID,
    error: str = "",
    check: bool = True,
) -> HTMLResponse:
    """The conversation's Docs panel: attached documents with their state, the picker."""
    links: list[DocsLink] = await service.links_of(session, me, conversation_id)
    mine: list[DocsDocument] = []
    problem = error
    if docs_enabled(request):
        client = docs_client(request)
        token = await docs_token(request, session, me)
        try:
            if check and links:
                await service.refresh(session, client, me, token, links)
            if token:
                mine = await client.list_documents(token)
        except AutanError as exc:
            problem = problem or translate(request, exc)
    context = {
        "conversation_id": conversation_id,
        "links": links,
        "picker": mine,
        "error": problem,
        "csrf_token": csrf,
        "enabled": docs_enabled(request),
    }
    return _fragment(request, "docs/_panel.html", context)


@router.get("/c/{conversation_id}/docs")
async def docs_panel(
    conversation_id: uuid.UUID,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
) -> HTMLResponse:
    """The Docs documents attached to the conversation, checked now with the caller's access."""
    await chat.owned(session, me, conversation_id)
    return await _panel(request, session, me, data.csrf, conversation_id)


@router.post("/c/{conversation_id}/docs/attach")
async def attach_to_conversation(
    conversation_id: uuid.UUID,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
) -> HTMLResponse:
    """Attach a Docs document (pasted address, or picked from the caller's list)."""
    await chat.owned(session, me, conversation_id)
    form = await request.form()
    address = forms.text(form, "docs_url", 500)
    error = ""
    try:
        client = docs_client(request)
        token = await docs_token(request, session, me)
        await service.attach(session, client, me, token, address, conversation_id=conversation_id)
    except AutanError as exc:
        await session.rollback()
        error = translate(request, exc)
    return await _panel(request, session, me, data.csrf, conversation_id, error, check=False)


@router.post("/c/{conversation_id}/docs/{link_id}/detach")
async def detach_from_conversation(
    conversation_id: uuid.UUID,
    link_id: uuid.UUID,
    request: Request,
    me: CurrentPrincipal,
    data: CurrentSession,
    session: SessionDep,
) -> HTMLResponse:
    """Stop using an attached Docs document (its copy in Autan is deleted)."""
    await chat.owned(session, me, conversation_id)
    await service.detach(session, me, link_id)
    return await _panel(request, session, me, data.csrf, conversation_id, check=False)


@router.post("/assistants/{assistant_id}/docs/attach")
async def attach_to_assistant(
    assistant_id: uuid.UUID, request: Request, me: CurrentPrincipal, session: SessionDep
) -> RedirectResponse:
    """A referent attaches a Docs document to an assistant of their organisation; each
    person using the assistant gets it only if Docs says they may read it."""
    if me.role not in (Role.ADMIN, Role.REFERENT):
        raise Forbidden("Only the organisation's referents manage its assistants.")
    form = await request.form()
    client = docs_client(request)
    token = await docs_token(request, session, me)
    await service.attach(
        session, client, me, token, forms.text(form, "docs_url", 500), assistant_id=assistant_id
    )
    return RedirectResponse(f"/assistants/{assistant_id}/edit", status_code=303)


@router.get("/settings/docs")
async def docs_settings(
    request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> HTMLResponse:
    """How Autan reaches the caller's Docs, and their personal token (never shown again)."""
    secret = services_of(request).settings.resolved_secret_key()
    cookie = request.cookies.get(tokens.DOCS_TOKEN_COOKIE)
    context = {
        "enabled": docs_enabled(request),
        "docs_url": services_of(request).settings.docs.url,
        "signed_in_token": tokens.unseal(secret, cookie, me.user_id) is not None,
        "has_token": await tokens.has_personal_token(session, me.user_id),
        "saved": request.query_params.get("saved") == "1",
    }
    return await render_page(request, "docs/settings.html", me, data.csrf, session, context)


@router.post("/settings/docs", response_model=None)
async def save_docs_token(
    request: Request, me: CurrentPrincipal, data: CurrentSession, session: SessionDep
) -> HTMLResponse | RedirectResponse:
    """Save (or, with `remove`, forget) the caller's personal Docs token."""
    form = await request.form()
    if form.get("remove"):
        await tokens.remove_personal_token(session, me)
        return RedirectResponse("/settings/docs", status_code=303)
    secret = services_of(request).settings.resolved_secret_key()
    try:
        if not docs_enabled(request):
            raise DocsNotConfigured()
        await tokens.save_personal_token(
            session, secret, me, forms.text(form, "docs_token", tokens.MAX_TOKEN_CHARS)
        )
    except AutanError as exc:
        context = {
            "enabled": docs_enabled(request),
            "docs_url": services_of(request).settings.docs.url,
            "signed_in_token": False,
            "has_token": await tokens.has_personal_token(session, me.user_id),
            "error": translate(request, exc),
        }
        return await render_page(
            request, "docs/settings.html", me, data.csrf, session, context, status_code=400
        )
    return RedirectResponse("/settings/docs?saved=1", status_code=303)
