"""Reading the audit log for people: who did what, on what, in words; filtered, paged, CSV.

Rows keep what was true when they were written (an email, a slug, a code's id); here they
are named for a reader: the actor's name and email ("system" for the command line and
jobs), an action label to translate, the target's current name, or "deleted" when it is gone.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts.audit import Action
from autan.accounts.models import AccessCode, ApiKey, AuditEvent, Organisation, Role, User
from autan.accounts.principal import Principal
from autan.core.errors import Forbidden, InvalidRequest


def _(message: str) -> str:
    """Mark a message for the catalogue; it is translated where it is shown."""
    return message


LABELS: dict[str, str] = {
    Action.LOGIN: _("Signed in"),
    Action.LOGIN_FAILED: _("Failed sign-in"),
    Action.LOGOUT_ALL: _("Signed out of every device"),
    Action.CODE_CREATED: _("Access code created"),
    Action.CODE_REVOKED: _("Access code withdrawn"),
    Action.CODE_REDEEMED: _("Access code used"),
    Action.KEY_CREATED: _("API key created"),
    Action.KEY_REVOKED: _("API key revoked"),
    Action.USER_CREATED: _("Account created"),
    Action.USER_UPDATED: _("Account changed"),
    Action.ORG_CREATED: _("Organisation created"),
    Action.ORG_UPDATED: _("Organisation settings changed"),
    Action.DOMAIN_MOVED: _("Email domain moved"),
    Action.CHARTER_ACCEPTED: _("Usage charter accepted"),
    Action.CHARTER_UPDATED: _("Usage charter changed"),
    Action.DATA_ERASED: _("Personal data erased"),
    Action.WEB_SEARCH: _("Web search"),
    Action.SIGNED_UP: _("Signed up with an access code"),
    Action.INVITATION_CREATED: _("Invitation created"),
    Action.INVITATION_USED: _("Invitation accepted"),
    Action.RESET_LINK_CREATED: _("Password reset link created"),
    Action.RESET_LINK_USED: _("Password reset through a link"),
    Action.RESET_LINK_REQUESTED: _("Password reset requested by e-mail"),
    Action.DEEP_RESEARCH: _("Deep research started"),
    Action.RETENTION_UPDATED: _("Retention rules changed"),
    Action.RETENTION_PURGED: _("Expired data deleted"),
    Action.BUDGET_UPDATED: _("Monthly budget changed"),
    Action.BUDGET_ALERT: _("Monthly budget alert"),
    Action.WEB_DOMAINS_UPDATED: _("Web search domains changed"),
    Action.DRIVE_CONNECTED: _("Drive folder connected"),
    Action.DRIVE_REVOKED: _("Drive folder disconnected"),
}
SYSTEM = _("system")
# Targets without a name of their own; shown translated (`AuditRow.target_is_msgid`).
UNTITLED_CODE = _("an access code without a label")
UNTITLED_KEY = _("an API key without a name")
_UNTITLED = frozenset({UNTITLED_CODE, UNTITLED_KEY})
DELETED = _("deleted")

_BY_EMAIL = frozenset(
    {
        Action.USER_UPDATED,
        Action.CHARTER_ACCEPTED,
        Action.DATA_ERASED,
        Action.SIGNED_UP,
        Action.INVITATION_CREATED,
        Action.INVITATION_USED,
        Action.RESET_LINK_CREATED,
        Action.RESET_LINK_USED,
        Action.RESET_LINK_REQUESTED,
    }
)
_BY_SLUG = frozenset({Action.ORG_CREATED, Action.ORG_UPDATED, Action.CHARTER_UPDATED})
_BY_CODE = frozenset({Action.CODE_CREATED, Action.CODE_REVOKED, Action.CODE_REDEEMED})
_BY_KEY = frozenset({Action.KEY_CREATED, Action.KEY_REVOKED})


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What a reader narrowed the log to; empty fields narrow nothing."""

    action: str = ""
    actor: str = ""
    since: date | None = None
    until: date | None = None

    def query(self) -> dict[str, str]:
        """The filter as query parameters (for links to other pages and the export)."""
        values = {
            "action": self.action,
            "actor": self.actor,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
        }
        return {k: v for k, v in values.items() if v}


class AdminOnly(Forbidden):
    code = "admin_required"

    def __init__(self) -> None:
        super().__init__("Only platform administrators can do this.")


def _day(text: str, name: str) -> date | None:
    # A date field left empty is sent as "", which a `date` parameter would refuse.
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidRequest("Enter a date such as 2026-01-31.", param=name) from None


def parse_filter(action: str, actor: str, since: str, until: str) -> AuditFilter:
    """The filter a reader typed (the page's fields, the API's query), or a plain refusal."""
    if action and action not in LABELS:
        raise InvalidRequest("Choose an action from the list.", param="action")
    return AuditFilter(
        action=action, actor=actor.strip(), since=_day(since, "since"), until=_day(until, "until")
    )


def scope(me: Principal, org_id: uuid.UUID, everywhere: bool) -> uuid.UUID | None:
    """The organisation whose rows are read; None (all) only for an administrator."""
    if not everywhere:
        return org_id
    if me.role != Role.ADMIN:
        raise AdminOnly()
    return None


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One event as a reader sees it; `label`, `actor` and `target` may be msgids."""

    id: int
    at: datetime
    action: str
    label: str
    actor: str
    actor_is_system: bool
    target: str
    target_deleted: bool
    ip: str
    organisation: str = ""
    target_is_msgid: bool = False
    # What the row stores, for programs: ids stay next to the names made for people.
    actor_id: uuid.UUID | None = None
    org_id: uuid.UUID | None = None
    target_raw: str = ""
    details: dict[str, Any] | None = None


def _filtered(statement: Select[AuditEvent], wanted: AuditFilter) -> Select[AuditEvent]:
    if wanted.action:
        statement = statement.where(AuditEvent.action == wanted.action)
    if wanted.actor.strip():
        pattern = f"%{wanted.actor.strip().lower()[:200]}%"
        actors = select(User.id).where(
            or_(func.lower(User.email).like(pattern), func.lower(User.display_name).like(pattern))
        )
        statement = statement.where(AuditEvent.actor_id.in_(actors))
    if wanted.since:
        statement = statement.where(
            AuditEvent.at >= datetime.combine(wanted.since, time(tzinfo=UTC))
        )
    if wanted.until:
        end = datetime.combine(wanted.until + timedelta(days=1), time(tzinfo=UTC))
        statement = statement.where(AuditEvent.at < end)
    return statement


async def events(
    session: AsyncSession,
    org_id: uuid.UUID | None,
    wanted: AuditFilter,
    *,
    limit: int = 50,
    before_id: int | None = None,
) -> list[AuditRow]:
    """The organisation's events (every organisation's for None: admins only, the caller
    checks) that pass the filter, newest first, named for a reader."""
    statement = select(AuditEvent)
    if org_id is not None:
        statement = statement.where(AuditEvent.org_id == org_id)
    statement = _filtered(statement, wanted)
    if before_id is not None:
        statement = statement.where(AuditEvent.id < before_id)
    rows = list(await session.scalars(statement.order_by(AuditEvent.id.desc()).limit(limit)))
    return await _named(session, rows)


async def _lookup(
    session: AsyncSession, rows: Iterable[AuditEvent]
) -> tuple[dict[uuid.UUID, User], dict[str, str], set[str]]:
    rows = list(rows)
    actor_ids = {r.actor_id for r in rows if r.actor_id}
    users = {u.id: u for u in await session.scalars(select(User).where(User.id.in_(actor_ids)))}
    ids = {r.target for r in rows if r.target and r.action in _BY_CODE | _BY_KEY}
    parsed = [uuid.UUID(t) for t in ids if _is_uuid(t)]
    names: dict[str, str] = {}
    for row_id, label in await session.execute(
        select(AccessCode.id, AccessCode.label).where(AccessCode.id.in_(parsed))
    ):
        names[str(row_id)] = label or UNTITLED_CODE
    for row_id, label in await session.execute(
        select(ApiKey.id, ApiKey.name).where(ApiKey.id.in_(parsed))
    ):
        names[str(row_id)] = label or UNTITLED_KEY
    slugs = {r.target for r in rows if r.target and r.action in _BY_SLUG}
    for slug, name in await session.execute(
        select(Organisation.slug, Organisation.name).where(Organisation.slug.in_(slugs))
    ):
        names[slug] = name
    emails = {r.target for r in rows if r.target and r.action in _BY_EMAIL}
    known = set(await session.scalars(select(User.email).where(User.email.in_(emails))))
    org_ids = {r.org_id for r in rows if r.org_id}
    for org_id, name in await session.execute(
        select(Organisation.id, Organisation.name).where(Organisation.id.in_(org_ids))
    ):
        names[str(org_id)] = name
    return users, names, known


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


async def _named(session: AsyncSession, rows: list[AuditEvent]) -> list[AuditRow]:
    users, names, known_emails = await _lookup(session, rows)
    named: list[AuditRow] = []
    for row in rows:
        actor = users.get(row.actor_id) if row.actor_id else None
        if actor is not None:
            who = f"{actor.display_name} <{actor.email}>" if actor.display_name else actor.email
        else:
            # No actor: the command line or a job; an actor since deleted leaves no id either.
            who = SYSTEM
        target, deleted = _target(row, names, known_emails)
        named.append(
            AuditRow(
                id=row.id,
                at=row.at,
                action=row.action,
                label=LABELS.get(row.action, row.action),
                actor=who,
                actor_is_system=actor is None,
                target=target,
                target_deleted=deleted,
                ip=row.ip or "",
                organisation=names.get(str(row.org_id), "") if row.org_id else "",
                target_is_msgid=target in _UNTITLED and row.action in _BY_CODE | _BY_KEY,
                actor_id=row.actor_id,
                org_id=row.org_id,
                target_raw=row.target or "",
                details=dict(row.details or {}),
            )
        )
    return named


def _target(row: AuditEvent, names: dict[str, str], known_emails: set[str]) -> tuple[str, bool]:
    if not row.target:
        return "", False
    if row.action in _BY_EMAIL:
        return row.target, row.target not in known_emails
    if row.action in _BY_SLUG | _BY_CODE | _BY_KEY:
        name = names.get(row.target)
        return (name, False) if name is not None else (row.target, True)
    return row.target, False


def to_csv(rows: Iterable[AuditRow], gettext: Callable[[str], str]) -> str:
    """The rows as CSV in the reader's language (headers, labels, "system", "deleted")."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    headers = ("Date", "Actor", "Action", "Target", "Address", "Code", "Organisation")
    writer.writerow([gettext(h) for h in headers])
    for row in rows:
        target = gettext(row.target) if row.target_is_msgid else row.target
        if row.target_deleted:
            target = f"{target} ({gettext(DELETED)})"
        actor = gettext(SYSTEM) if row.actor_is_system else row.actor
        writer.writerow(
            [
                row.at.isoformat(timespec="seconds"),
                _safe(actor),
                gettext(row.label),
                _safe(target),
                row.ip,
                row.action,
                _safe(row.organisation),
            ]
        )
    return buffer.getvalue()


def _safe(cell: str) -> str:
    """A cell a spreadsheet will not run as a formula (CSV injection)."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell
