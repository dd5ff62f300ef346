"""Who may manage what. Scoping is checked here, once, for every management action."""

from __future__ import annotations

import uuid

from autan.accounts.models import Role
from autan.accounts.principal import Principal
from autan.core.errors import Forbidden, NotFound


class OrganisationNotFound(NotFound):
    code = "organisation_not_found"

    def __init__(self) -> None:
        super().__init__("No such organisation, or you do not have access to it.")


class NotAReferent(Forbidden):
    code = "referent_required"

    def __init__(self) -> None:
        super().__init__("Only the organisation's AI referents and administrators can do this.")


def require_org_manager(principal: Principal, org_id: uuid.UUID) -> None:
    """Admins manage every organisation; referents only their own.

    Another organisation answers "not found", so that its existence does not leak.
    """
    if principal.role == Role.ADMIN:
        return
    if principal.org_id != org_id:
        raise OrganisationNotFound()
    if principal.role != Role.REFERENT:
        raise NotAReferent()


def require_org_member(principal: Principal, org_id: uuid.UUID) -> None:
    """Anyone of the organisation (and admins) may read what it shares."""
    if principal.role != Role.ADMIN and principal.org_id != org_id:
        raise OrganisationNotFound()
