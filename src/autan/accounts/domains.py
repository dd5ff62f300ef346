"""Email domains that admit newcomers to an organisation: each held by one organisation at most.

`organisation_domains` (domain as primary key) is the record of who holds a domain, so two
organisations cannot both claim one even when two referents save at the same moment: the
database refuses the second insert. `organisations.allowed_domains` keeps a sorted copy for
display and the API, written only here, in the same transaction.

A referent can only claim free domains; moving a domain from one organisation to another is
an explicit act of a platform administrator, written to the audit log of both.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable

import structlog
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts import audit
from autan.accounts.models import Organisation, OrganisationDomain, Role
from autan.accounts.principal import Principal
from autan.core.errors import Conflict, Forbidden, InvalidRequest

log = structlog.get_logger(__name__)

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
# Two labels at least (a bare top-level domain is never one organisation's), an alphabetic
# or punycode top-level label.
_HOSTNAME = re.compile(rf"^(?:{_LABEL}\.)+(?:[a-z]{{2,63}}|xn--[a-z0-9-]{{1,59}})$")

# Domains under which unrelated people hold addresses. Claiming one would let all of them
# join the organisation without a code, so no organisation may. Kept short and explicit
# rather than importing the whole Public Suffix List: single labels ("fr") are refused by
# the shape above, and these are the shared names a French public body might type.
SHARED_DOMAINS = frozenset(
    {
        # Public suffixes: every ministry has its own name below them (culture.gouv.fr).
        "gouv.fr",
        "asso.fr",
        "com.fr",
        "nom.fr",
        "tm.fr",
        "presse.fr",
        "gov.uk",
        "europa.eu",
        # Webmail providers: anyone can open an address there.
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "outlook.fr",
        "hotmail.com",
        "hotmail.fr",
        "live.com",
        "live.fr",
        "msn.com",
        "yahoo.com",
        "yahoo.fr",
        "icloud.com",
        "me.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.fr",
        "orange.fr",
        "wanadoo.fr",
        "free.fr",
        "sfr.fr",
        "neuf.fr",
        "bbox.fr",
        "laposte.net",
    }
)


class DomainError:
    """Marks the errors about an organisation's email domains (the settings page shows them)."""


class InvalidDomain(DomainError, InvalidRequest):
    code = "invalid_domain"

    def __init__(self, domain: str) -> None:
        super().__init__(
            "{domain} is not an email domain (such as culture.gouv.fr).",
            param="allowed_domains",
            values={"domain": domain[:100]},
        )


class SharedDomain(DomainError, InvalidRequest):
    code = "shared_domain"

    def __init__(self, domain: str) -> None:
        super().__init__(
            "{domain} is shared by many organisations or open to anyone, so it cannot admit "
            "people to one organisation. List your own domain (such as culture.gouv.fr).",
            param="allowed_domains",
            values={"domain": domain},
        )


class DomainTaken(DomainError, Conflict):
    code = "domain_taken"

    def __init__(self, domains: Iterable[str]) -> None:
        self.domains = sorted(domains)
        super().__init__(
            "This domain already belongs to another organisation: {domain}.",
            param="allowed_domains",
            values={"domain": ", ".join(self.domains)},
        )


class DomainMoveReserved(Forbidden):
    code = "domain_move_reserved"

    def __init__(self) -> None:
        super().__init__(
            "Only platform administrators can move a domain from one organisation to another."
        )


def normalise_domain(text: str) -> str:
    """A domain as stored: trimmed, lower-cased, without '@' or a final dot; else an error."""
    domain = text.strip().lower().removeprefix("@").removesuffix(".")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidDomain(text) from None
    if len(domain) > 253 or not _HOSTNAME.match(domain):
        raise InvalidDomain(text)
    if domain in SHARED_DOMAINS:
        raise SharedDomain(domain)
    return domain


def normalise_domains(texts: Iterable[str]) -> list[str]:
    """Each domain checked and normalised, without repeats, sorted."""
    return sorted({normalise_domain(t) for t in texts if t.strip()})


async def org_of_domain(session: AsyncSession, domain: str) -> Organisation | None:
    """The organisation that admits addresses of this domain, if any."""
    return await session.scalar(
        select(Organisation)
        .join(OrganisationDomain, OrganisationDomain.org_id == Organisation.id)
        .where(OrganisationDomain.domain == domain.lower())
    )


async def set_domains(
    session: AsyncSession,
    org: Organisation,
    texts: Iterable[str],
    actor: Principal | None,
    *,
    move: bool = False,
) -> list[str]:
    """Make `org` hold exactly these domains; the caller commits.

    A domain held by another organisation raises `DomainTaken`, unless `move` is set by an
    administrator, who then takes it from there (audited on both sides). A claim that loses
    a race with another transaction fails at the insert, in the database, not here.
    """
    wanted = normalise_domains(texts)
    slug = org.slug  # read now: a rollback below would expire it
    if move and (actor is None or actor.role != Role.ADMIN):
        raise DomainMoveReserved()
    held = set(
        await session.scalars(
            select(OrganisationDomain.domain).where(OrganisationDomain.org_id == org.id)
        )
    )
    added = [d for d in wanted if d not in held]
    elsewhere = (
        list(
            await session.execute(
                select(OrganisationDomain.domain, OrganisationDomain.org_id).where(
                    OrganisationDomain.domain.in_(added)
                )
            )
        )
        if added
        else []
    )
    if elsewhere and not move:
        raise DomainTaken(domain for domain, _ in elsewhere)
    for domain, other_id in elsewhere:
        await _take_from(session, domain, other_id, org, actor)
    removed = held - set(wanted)
    if removed:
        await session.execute(
            delete(OrganisationDomain).where(
                OrganisationDomain.org_id == org.id, OrganisationDomain.domain.in_(removed)
            )
        )
    if added:
        try:
            await session.execute(
                insert(OrganisationDomain), [{"domain": d, "org_id": org.id} for d in added]
            )
        except IntegrityError:
            # Another organisation claimed one of them since we looked.
            await session.rollback()
            log.info("domain_claim_lost_race", org=slug, domains=added)
            raise DomainTaken(added) from None
    org.allowed_domains = wanted
    return wanted


async def _take_from(
    session: AsyncSession,
    domain: str,
    other_id: uuid.UUID,
    org: Organisation,
    actor: Principal | None,
) -> None:
    await session.execute(delete(OrganisationDomain).where(OrganisationDomain.domain == domain))
    other = await session.get(Organisation, other_id)
    if other is not None:
        other.allowed_domains = [d for d in other.allowed_domains if d != domain]
    actor_id = actor.user_id if actor else None
    for side in (other_id, org.id):
        audit.record(
            session,
            audit.Action.DOMAIN_MOVED,
            actor_id=actor_id,
            org_id=side,
            target=domain,
            from_org=other.slug if other else None,
            to_org=org.slug,
        )
