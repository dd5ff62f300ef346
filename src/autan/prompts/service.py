"""The prompt library: list, search, use, save, share, edit and delete templates.

A person sees the built-in templates, their own, and those their organisation shares.
Stored templates are edited by their author; the organisation's referents (and admins)
may also edit or remove what is shared with the organisation. Anything else is "not found".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts.models import Role
from autan.accounts.principal import Principal
from autan.core.db import utcnow
from autan.prompts.errors import InvalidPrompt, PromptNotFound, SharingNotAllowed
from autan.prompts.library import BUILTINS, BY_SLUG, CATEGORIES, BuiltinPrompt
from autan.prompts.models import PromptTemplate, Visibility

BUILTIN_PREFIX = "builtin:"
TITLE_MAX = 200
BODY_MAX = 20_000


@dataclass(frozen=True, slots=True)
class PromptView:
    """A template as the library and the chat page show it."""

    ref: str  # the stored template's id, or "builtin:<slug>"
    title: str
    body: str
    category: str
    builtin: bool
    visibility: Visibility | None = None  # None for built-in templates
    editable: bool = False


def _builtin_view(prompt: BuiltinPrompt, lang: str) -> PromptView:
    lang = lang if lang in prompt.title else "fr"
    return PromptView(
        BUILTIN_PREFIX + prompt.slug, prompt.title[lang], prompt.body[lang], prompt.category, True
    )


def can_edit(principal: Principal, row: PromptTemplate) -> bool:
    """The author; and for shared templates, the organisation's referents and any admin."""
    if row.owner_id == principal.user_id:
        return True
    if row.visibility != Visibility.ORGANISATION:
        return False
    if principal.role == Role.ADMIN:
        return True
    return principal.role == Role.REFERENT and principal.org_id == row.org_id


def _stored_view(principal: Principal, row: PromptTemplate) -> PromptView:
    return PromptView(
        str(row.id),
        row.title,
        row.body,
        row.category,
        False,
        Visibility(row.visibility),
        can_edit(principal, row),
    )


def _visible_to(principal: Principal) -> ColumnElement[bool]:
    return or_(
        PromptTemplate.owner_id == principal.user_id,
        (PromptTemplate.org_id == principal.org_id)
        & (PromptTemplate.visibility == Visibility.ORGANISATION),
    )


def _matches(text: str, query: str) -> bool:
    return query.casefold() in text.casefold()


async def list_prompts(
    session: AsyncSession, principal: Principal, lang: str, query: str = "", category: str = ""
) -> list[PromptView]:
    """What the person may use: their own and shared templates first, then the built-in ones."""
    query = query.strip()
    statement = select(PromptTemplate).where(_visible_to(principal))
    if category:
        statement = statement.where(PromptTemplate.category == category)
    if query:
        escaped = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        statement = statement.where(
            or_(
                func.lower(PromptTemplate.title).like(pattern, escape="\\"),
                func.lower(PromptTemplate.body).like(pattern, escape="\\"),
            )
        )
    rows = await session.scalars(statement.order_by(PromptTemplate.updated_at.desc()).limit(500))
    stored = [_stored_view(principal, row) for row in rows]
    builtins = [
        view
        for view in (_builtin_view(prompt, lang) for prompt in BUILTINS)
        if (not category or view.category == category)
        and (not query or _matches(view.title, query) or _matches(view.body, query))
    ]
    return stored + builtins


def _parse_id(ref: str) -> uuid.UUID:
    try:
        return uuid.UUID(ref)
    except ValueError:
        raise PromptNotFound() from None


async def _visible_row(
    session: AsyncSession, principal: Principal, prompt_id: uuid.UUID
) -> PromptTemplate:
    row = await session.get(PromptTemplate, prompt_id)
    if row is None:
        raise PromptNotFound()
    mine = row.owner_id == principal.user_id
    shared = row.visibility == Visibility.ORGANISATION and row.org_id == principal.org_id
    if not (mine or shared):
        raise PromptNotFound()
    return row


async def usable_prompt(
    session: AsyncSession, principal: Principal, ref: str, lang: str
) -> PromptView:
    """The template `ref` ("builtin:<slug>" or a stored id) if the person may use it."""
    if ref.startswith(BUILTIN_PREFIX):
        builtin = BY_SLUG.get(ref.removeprefix(BUILTIN_PREFIX))
        if builtin is None:
            raise PromptNotFound()
        return _builtin_view(builtin, lang)
    return _stored_view(principal, await _visible_row(session, principal, _parse_id(ref)))


async def editable_prompt(
    session: AsyncSession, principal: Principal, prompt_id: uuid.UUID
) -> PromptTemplate:
    """A stored template the person may change; "not found" for anyone else."""
    row = await _visible_row(session, principal, prompt_id)
    if not can_edit(principal, row):
        raise PromptNotFound()
    return row


def _checked(
    principal: Principal, title: str, body: str, category: str, visibility: str
) -> tuple[str, str, str, Visibility]:
    title, body = title.strip(), body.strip()
    if not title:
        raise InvalidPrompt("Give the template a title.", param="title")
    if len(title) > TITLE_MAX:
        raise InvalidPrompt("The title is too long (200 characters at most).", param="title")
    if not body:
        raise InvalidPrompt("Write the text of the template.", param="body")
    if len(body) > BODY_MAX:
        raise InvalidPrompt("The text is too long (20,000 characters at most).", param="body")
    if category not in CATEGORIES:
        raise InvalidPrompt("Choose a category from the list.", param="category")
    try:
        chosen = Visibility(visibility)
    except ValueError:
        raise InvalidPrompt("Choose who can see the template.", param="visibility") from None
    if chosen == Visibility.ORGANISATION and principal.role not in (Role.ADMIN, Role.REFERENT):
        raise SharingNotAllowed()
    return title, body, category, chosen


async def create_prompt(
    session: AsyncSession,
    principal: Principal,
    *,
    title: str,
    body: str,
    category: str,
    visibility: str = Visibility.PRIVATE,
) -> PromptTemplate:
    """Save a new template in the person's name (private, or shared by a referent)."""
    title, body, category, chosen = _checked(principal, title, body, category, visibility)
    row = PromptTemplate(
        owner_id=principal.user_id,
        org_id=principal.org_id,
        title=title,
        body=body,
        category=category,
        visibility=chosen,
    )
    session.add(row)
    await session.commit()
    return row


async def update_prompt(
    session: AsyncSession,
    principal: Principal,
    prompt_id: uuid.UUID,
    *,
    title: str,
    body: str,
    category: str,
    visibility: str,
) -> PromptTemplate:
    """Change a template the person may edit."""
    row = await editable_prompt(session, principal, prompt_id)
    title, body, category, chosen = _checked(principal, title, body, category, visibility)
    row.title, row.body, row.category, row.visibility = title, body, category, chosen
    row.updated_at = utcnow()
    await session.commit()
    return row


async def delete_prompt(session: AsyncSession, principal: Principal, prompt_id: uuid.UUID) -> None:
    """Remove a template the person may edit."""
    row = await editable_prompt(session, principal, prompt_id)
    await session.delete(row)
    await session.commit()
