"""The usage charter: its text (an organisation's own or the default), acceptance, edits.

Everyone accepts their organisation's charter at first sign-in, and again whenever its
version changes (a referent editing the text bumps it). Acceptances and edits are audited.
The text is Markdown-like plain text; it is rendered with raw HTML disabled and then
sanitised, so a referent cannot put script or markup of their own on everyone's page.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import nh3
from markdown_it import MarkdownIt
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts import audit
from autan.accounts.models import Organisation, User
from autan.accounts.principal import Principal
from autan.core.db import utcnow
from autan.core.errors import InvalidRequest, NotFound
from autan.core.events import OrganisationChanged, UserChanged, emit

CHARTER_MAX = 20_000

DEFAULT_CHARTER: dict[str, str] = {
    "fr": """\
## Charte d'utilisation d'Autan

Autan est un assistant d'intelligence artificielle mis à votre disposition pour vous aider
dans votre travail. En l'utilisant, vous vous engagez à respecter les règles suivantes.

**Ce qui est interdit**

- **Aucune évaluation des agents** : n'utilisez pas Autan pour évaluer, noter ou classer
  des agents (entretiens professionnels, promotions, sanctions).
- **Aucune notation d'élèves, d'étudiants ou de candidats** : pas de correction de copies
  ni de sélection de candidatures par l'assistant.
- **Aucune donnée classifiée** : ni information couverte par le secret de la défense
  nationale, ni document marqué « Diffusion restreinte ».
- **Pas de données personnelles sensibles sans base légale** : santé, opinions, origine,
  religion, vie sexuelle, infractions… seulement si un texte vous y autorise.

**Ce que vous devez faire**

- **Vérifiez ce que dit l'assistant** : il peut se tromper, inventer des faits ou des
  références. Relisez et vérifiez avant d'utiliser une réponse.
- **Restez responsable** : les réponses de l'assistant n'engagent pas l'administration ;
  ce que vous en faites relève de votre responsabilité.

En cas de doute, demandez à votre référent IA.
""",
    "en": """\
## Autan usage charter

Autan is an artificial-intelligence assistant provided to help you in your work. By using
it, you agree to the following rules.

**What is forbidden**

- **No evaluation of staff**: do not use Autan to assess, rate or rank public servants
  (appraisals, promotions, sanctions).
- **No grading of pupils, students or candidates**: the assistant neither marks papers
  nor selects applications.
- **No classified data**: no information covered by national-defence secrecy, no document
  marked "Diffusion restreinte" (restricted).
- **No sensitive personal data without a legal basis**: health, opinions, origin,
  religion, sex life, offences… only when a text authorises you.

**What you must do**

- **Check what the assistant says**: it can be wrong, invent facts or references. Read
  and check an answer before you use it.
- **Stay responsible**: the assistant's answers do not commit the administration; what
  you do with them is your responsibility.

When in doubt, ask your AI referent.
""",
}

# Raw HTML stays text; links keep only safe schemes (markdown-it checks them too).
_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False})
_ALLOWED_TAGS = {
    "h1", "h2", "h3", "h4", "p", "ul", "ol", "li", "strong", "em", "a", "code", "pre",
    "blockquote", "hr", "br",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class CharterView:
    """The charter a person must accept, and whether they have."""

    version: int
    text: str
    html: str
    is_default: bool
    accepted_version: int | None
    accepted_at: datetime | None

    @property
    def accepted(self) -> bool:
        return self.accepted_version == self.version


class CharterTooLong(InvalidRequest):
    code = "charter_too_long"

    def __init__(self) -> None:
        super().__init__("The charter is too long (20,000 characters at most).", param="text")


class AccountNotFound(NotFound):
    code = "user_not_found"

    def __init__(self) -> None:
        super().__init__("This account no longer exists.")


def render_html(text: str) -> str:
    """The charter's text as safe HTML (Markdown, raw HTML shown as text, then sanitised)."""
    return nh3.clean(
        _MARKDOWN.render(text),
        tags=_ALLOWED_TAGS,
        attributes={"a": {"href"}},
        url_schemes={"https", "http", "mailto"},
    )


def charter_text(org: Organisation, lang: str) -> str:
    """The organisation's own text, or the default one in the reader's language."""
    return org.charter_text or DEFAULT_CHARTER.get(lang, DEFAULT_CHARTER["fr"])


async def _user_and_org(session: AsyncSession, user_id: uuid.UUID) -> tuple[User, Organisation]:
    user = await session.get(User, user_id)
    if user is None:
        raise AccountNotFound()
    org = await session.get(Organisation, user.org_id)
    assert org is not None  # users.org_id is a foreign key
    return user, org


async def charter_for(session: AsyncSession, principal: Principal, lang: str) -> CharterView:
    """The charter of the person's organisation and their acceptance of it."""
    user, org = await _user_and_org(session, principal.user_id)
    text = charter_text(org, lang)
    return CharterView(
        org.charter_version,
        text,
        render_html(text),
        org.charter_text is None,
        user.charter_accepted_version,
        user.charter_accepted_at,
    )


async def accept(
    session: AsyncSession, principal: Principal, version: int, ip: str | None = None
) -> bool:
    """Record that the person accepts `version`; False if the charter changed meanwhile."""
    user, org = await _user_and_org(session, principal.user_id)
    # The version they read must be the current one: an edit between reading and accepting
    # means they have not seen the text they would be accepting.
    if version != org.charter_version:
        return False
    user.charter_accepted_version = version
    user.charter_accepted_at = utcnow()
    audit.record(
        session,
        audit.Action.CHARTER_ACCEPTED,
        actor_id=user.id,
        org_id=org.id,
        target=user.email,
        ip=ip,
        version=version,
    )
    emit(session, UserChanged(user.id))
    await session.commit()
    return True


async def update_charter(
    session: AsyncSession, org: Organisation, text: str, actor: Principal, ip: str | None = None
) -> int:
    """Replace the organisation's charter (empty means the default) and bump its version.

    The caller has checked that `actor` manages `org`. Everyone of the organisation must
    accept the new version at their next page.
    """
    text = text.strip()
    if len(text) > CHARTER_MAX:
        raise CharterTooLong()
    org.charter_text = text or None
    org.charter_version += 1
    audit.record(
        session,
        audit.Action.CHARTER_UPDATED,
        actor_id=actor.user_id,
        org_id=org.id,
        target=org.slug,
        ip=ip,
        version=org.charter_version,
        default=org.charter_text is None,
    )
    emit(session, OrganisationChanged(org.id))
    await session.commit()
    return org.charter_version
