"""Who sees and who manages a collection, as SQL filters and plain checks.

A user sees a collection that is public, or shared with their organisation, or their own.
A user manages their own collections, and the referents of an organisation (and the
platform's administrators) manage its shared ones; nobody else reads a private collection,
administrators included.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts.models import Role
from autan.accounts.principal import Principal
from autan.documents.errors import CollectionNotFound, VisibilityNotAllowed
from autan.documents.models import Collection, Visibility


def visible_collections(principal: Principal) -> Select[Collection]:
    """The collections this user may read and search."""
    return select(Collection).where(
        or_(
            Collection.visibility == Visibility.PUBLIC,
            and_(
                Collection.visibility == Visibility.ORGANISATION,
                Collection.org_id == principal.org_id,
            ),
            Collection.owner_id == principal.user_id,
        )
    )


def can_manage_collection(principal: Principal, collection: Collection) -> bool:
    """Whether this user may change the collection (documents, settings, deletion)."""
    if collection.owner_id == principal.user_id:
        return True
    if collection.visibility == Visibility.PRIVATE:
        return False
    if principal.role == Role.ADMIN:
        return True
    return principal.role == Role.REFERENT and principal.org_id == collection.org_id


def require_can_create(principal: Principal, visibility: Visibility) -> None:
    """Anyone creates private collections; referents shared ones; admins public ones."""
    if visibility == Visibility.PUBLIC and principal.role != Role.ADMIN:
        raise VisibilityNotAllowed(visibility)
    if visibility == Visibility.ORGANISATION and principal.role not in (
        Role.ADMIN,
        Role.REFERENT,
    ):
        raise VisibilityNotAllowed(visibility)


async def readable_collection_ids(
    session: AsyncSession, principal: Principal, requested: Sequence[uuid.UUID]
) -> list[uuid.UUID]:
    """The requested collections, once each, if the user sees them all.

    One the user may not see is "not found", exactly like one that does not exist, so that
    a collection's existence never leaks.
    """
    wanted = list(dict.fromkeys(requested))
    if not wanted:
        return []
    visible = visible_collections(principal).where(Collection.id.in_(wanted))
    found = set((await session.scalars(visible.with_only_columns(Collection.id))).all())
    if len(found) != len(wanted):
        raise CollectionNotFound()
    return wanted
