"""Vectors on SQLite: the float32 blob codec and an in-memory matrix per collection.

SQLite has no vector index here (this Python's sqlite3 cannot load extensions), so dense
search is exact: a matrix product over every chunk vector of the searched collections. Reading
and decoding 100,000 blobs takes about a second, so each collection's matrix is kept in memory
and reused while the collection is unchanged. "Unchanged" is checked on every search with one
cheap indexed query (chunk count and highest id; chunk ids are never reused), which keeps
several server processes, and writes made by another process, correct; writes through
`autan.retrieval.index` also drop the matrix at once to free memory.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import LargeBinary, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from autan.documents.models import Chunk

DTYPE = np.dtype("<f4")


def encode(vector: Sequence[float] | np.ndarray) -> bytes:
    """A vector as little-endian float32 bytes."""
    return np.asarray(vector, dtype=DTYPE).tobytes()


def decode(blob: bytes) -> np.ndarray:
    """Little-endian float32 bytes as a vector."""
    return np.frombuffer(blob, dtype=DTYPE).astype(np.float32)


def normalise(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), so a dot product is a cosine."""
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    unit: np.ndarray = np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
    return unit


@dataclass(frozen=True, slots=True)
class CollectionMatrix:
    """The unit vectors of one collection's chunks, with their chunk and document ids."""

    fingerprint: tuple[int, int]
    chunk_ids: np.ndarray  # int64, one per row
    document_codes: np.ndarray  # int32, one per row: an index into `documents`
    documents: tuple[uuid.UUID, ...]
    vectors: np.ndarray  # float32 (rows, dimensions), unit length

    def rows_of(self, document_ids: set[uuid.UUID]) -> np.ndarray:
        """A boolean mask of the rows belonging to these documents."""
        wanted = np.fromiter(
            (document in document_ids for document in self.documents), bool, len(self.documents)
        )
        mask: np.ndarray = wanted[self.document_codes]
        return mask


class MatrixCache:
    """Collection matrices by (database, collection), least recently used dropped first."""

    def __init__(self, max_collections: int = 64, revalidate_after: float = 1.0) -> None:
        self.max_collections = max_collections
        # Counting a collection's chunks costs ~10-20 ms at 100,000 chunks, so a matrix checked
        # less than this many seconds ago is trusted: writes through this process invalidate
        # it at once; another process's new chunks show up within this delay (its deleted
        # chunks never do: hits are read back from the chunks table).
        self.revalidate_after = revalidate_after
        self._entries: OrderedDict[tuple[str, uuid.UUID], CollectionMatrix] = OrderedDict()
        self._checked: dict[tuple[str, uuid.UUID], float] = {}
        self.loads = 0  # how many times a matrix was read from the database (for tests)

    def invalidate(self, collection_id: uuid.UUID | None, database: str | None = None) -> None:
        """Forget a collection's matrix (in every database when none is named)."""
        if collection_id is None:
            return
        for key in [k for k in self._entries if k[1] == collection_id]:
            if database is None or key[0] == database:
                del self._entries[key]
                self._checked.pop(key, None)

    def clear(self) -> None:
        """Forget every matrix."""
        self._entries.clear()
        self._checked.clear()

    async def get(self, session: AsyncSession, collection_id: uuid.UUID) -> CollectionMatrix:
        """The collection's matrix, read again only if its chunks changed since last time."""
        key = (database_key(session), collection_id)
        cached = self._entries.get(key)
        now = time.monotonic()
        if cached is not None and now - self._checked.get(key, 0.0) < self.revalidate_after:
            self._entries.move_to_end(key)
            return cached
        row = (
            await session.execute(
                select(func.count(), func.coalesce(func.max(Chunk.id), 0)).where(
                    Chunk.collection_id == collection_id
                )
            )
        ).one()
        fingerprint = (int(row[0]), int(row[1]))
        self._checked[key] = now
        if cached is not None and cached.fingerprint == fingerprint:
            self._entries.move_to_end(key)
            return cached
        matrix = await _load(session, collection_id, fingerprint)
        self.loads += 1
        self._entries[key] = matrix
        while len(self._entries) > self.max_collections:
            dropped, _ = self._entries.popitem(last=False)
            self._checked.pop(dropped, None)
        return matrix


def database_key(session: AsyncSession) -> str:
    """Which database a session talks to, so matrices of two databases never mix."""
    return session.get_bind().engine.url.render_as_string(hide_password=True)


async def _load(
    session: AsyncSession, collection_id: uuid.UUID, fingerprint: tuple[int, int]
) -> CollectionMatrix:
    # Raw blobs, not the ORM type: decoding 100k rows one by one would cost seconds.
    result = await session.execute(
        select(Chunk.id, Chunk.document_id, type_coerce(Chunk.embedding, LargeBinary))
        .where(Chunk.collection_id == collection_id, Chunk.embedding.is_not(None))
        .order_by(Chunk.id)
    )
    ids: list[int] = []
    codes: list[int] = []
    documents: dict[uuid.UUID, int] = {}
    blobs: list[bytes] = []
    for chunk_id, document_id, blob in result:
        ids.append(chunk_id)
        codes.append(documents.setdefault(document_id, len(documents)))
        blobs.append(blob)
    if blobs:
        vectors = normalise(np.frombuffer(b"".join(blobs), dtype=DTYPE).reshape(len(blobs), -1))
    else:
        vectors = np.zeros((0, 0), dtype=np.float32)
    return CollectionMatrix(
        fingerprint,
        np.asarray(ids, dtype=np.int64),
        np.asarray(codes, dtype=np.int32),
        tuple(documents),
        vectors.astype(np.float32, copy=False),
    )


# One per process: index writes must reach the cache the searches read.
matrix_cache = MatrixCache()
