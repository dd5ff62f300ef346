"""Which chunks a search may look at: some collections, some documents, or both."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BindParameter, Uuid, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from autan.documents.models import Document, DocumentStatus

Ranking = list[tuple[int, float]]
"""Chunk ids with their scores, best first."""


@dataclass(frozen=True, slots=True)
class Scope:
    """Chunks of these collections plus chunks of these documents (a union).

    The caller has already checked that the user may read every one of them.
    """

    collection_ids: tuple[uuid.UUID, ...]
    document_ids: tuple[uuid.UUID, ...]

    @classmethod
    def of(cls, collection_ids: Sequence[uuid.UUID], document_ids: Sequence[uuid.UUID]) -> Scope:
        """A scope without duplicates, in a stable order."""
        return cls(tuple(dict.fromkeys(collection_ids)), tuple(dict.fromkeys(document_ids)))

    @property
    def empty(self) -> bool:
        """Nothing to search: an empty filter never means "everything"."""
        return not self.collection_ids and not self.document_ids

    def sql(self, alias: str) -> str:
        """A boolean SQL condition on the chunks table aliased `alias`."""
        parts = []
        if self.collection_ids:
            parts.append(f"{alias}.collection_id IN :collection_ids")
        if self.document_ids:
            parts.append(f"{alias}.document_id IN :document_ids")
        return " OR ".join(parts) or "1 = 0"

    def bindparams(self) -> list[BindParameter[uuid.UUID]]:
        """The parameters `sql()` refers to, with their values."""
        params = []
        if self.collection_ids:
            params.append(
                bindparam("collection_ids", list(self.collection_ids), expanding=True, type_=Uuid())
            )
        if self.document_ids:
            params.append(
                bindparam("document_ids", list(self.document_ids), expanding=True, type_=Uuid())
            )
        return params


_UNREADY = [status for status in DocumentStatus if status != DocumentStatus.READY]


async def unready_documents(session: AsyncSession, scope: Scope) -> set[uuid.UUID]:
    """Documents of the scope not searchable yet: usually none.

    All unready documents are read by the status index and filtered here (a handful; a few
    thousand while a large import is queued, still milliseconds): asking for the scope's
    would scan every document of its collections.
    """
    rows = await session.execute(
        select(Document.id, Document.collection_id).where(Document.status.in_(_UNREADY))
    )
    collections, documents = set(scope.collection_ids), set(scope.document_ids)
    return {
        document_id
        for document_id, collection_id in rows
        if collection_id in collections or document_id in documents
    }


async def ranked(
    session: AsyncSession, sql: str, scope: Scope, parameters: dict[str, object]
) -> Ranking:
    """Run a ranking statement over a scope: its `:name` parameters and the scope's bound."""
    names: list[BindParameter[Any]] = [bindparam(name) for name in parameters]
    statement = text(sql).bindparams(*scope.bindparams(), *names)
    rows = await session.execute(statement, parameters)
    return [(int(chunk_id), float(score)) for chunk_id, score in rows]
