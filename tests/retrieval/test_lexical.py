"""The words of the lexical index, and how a question becomes an FTS5 query on large indexes."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts import service as accounts
from autan.documents.models import Collection, Visibility
from autan.retrieval.analysis import analyse, fts5_query, index_words, query_terms
from autan.retrieval.lexical import COMMON_SHARE, common_words, term_counts
from autan.retrieval.search import search
from tests.retrieval.corpus import Corpus, add_document

Maker = async_sessionmaker[AsyncSession]


def test_words_are_folded_stemmed_and_stripped_of_function_words() -> None:
    assert analyse("Les Allocations familiales d'Europe") == ["alloc", "familial", "europ"]
    # Typed with or without accents, a word reaches the same stem.
    assert query_terms("maternité") == query_terms("MATERNITE") == analyse("maternite")
    assert query_terms("Quelle démarche ? Quelles démarches !") == ["demarch"]
    assert index_words(["Titre", "", "Section 2"]) == "titr section"


def test_fts5_query_adds_near_groups_and_gates_on_rarer_words() -> None:
    assert fts5_query(["permis"]) == '"permis"'
    assert fts5_query(["cart", "gris", "vol"]) == (
        '"cart" OR "gris" OR "vol" OR NEAR("cart" "gris", 6) OR NEAR("gris" "vol", 6)'
    )
    # A row must hold a word that is not common; the common one still ranks it.
    assert fts5_query(["demand", "passeport"], common={"demand"}) == (
        '("passeport") AND ("demand" OR "passeport" OR NEAR("demand" "passeport", 6))'
    )
    assert fts5_query(["demand"], common={"demand"}) == '"demand"'
    assert fts5_query(['a"b']) == '"a""b"'


def test_common_words() -> None:
    terms = ["demand", "passeport", "xylophon"]
    counts = {"demand": 500, "passeport": 3, "xylophon": 0}
    assert common_words(terms, counts, total=1000) == {"demand"}
    # Only words no chunk holds besides the common one: no gate, or nothing would match.
    assert common_words(terms, {**counts, "passeport": 0}, total=1000) == set()
    # A small index: every word it holds is frequent, nothing is gated.
    assert common_words(terms, {**counts, "demand": 5, "passeport": 5}, total=6) == set()


async def test_a_gated_search_ranks_rows_holding_a_rarer_word(
    session_maker: Maker, database_url: str
) -> None:
    async with session_maker() as session:
        user = await accounts.create_user(session, f"{uuid.uuid4().hex[:8]}@example.org")
        collection = Collection(
            org_id=user.org_id, owner_id=user.id, name="Démarches", visibility=Visibility.PRIVATE
        )
        session.add(collection)
        await session.flush()
        corpus = Corpus(org_id=user.org_id, user_id=user.id, collections={"c": collection.id})
        paragraphs: list[str | tuple[str, tuple[str, ...]]] = [
            f"Une demande numéro {n} se fait en ligne." for n in range(50)
        ]
        assert 2 / 50 <= COMMON_SHARE < 49 / 50  # "passeport" is rare, "demande" common
        paragraphs[7] = "La demande de passeport se fait en mairie."
        paragraphs[12] = "Le passeport est valable dix ans."
        await add_document(session, corpus, "demarches.txt", paragraphs, collection="c")
        await session.commit()

    async def lexical(query: str) -> list[str]:
        async with session_maker() as session:
            hits = await search(
                session, query=query, query_vector=None, collection_ids=[collection.id], k=50
            )
        return [hit.content for hit in hits]

    # The chunk holding both words, side by side, comes first, then the rarer word alone.
    found = await lexical("demande de passeport")
    assert found[:2] == [
        "La demande de passeport se fait en mairie.",
        "Le passeport est valable dix ans.",
    ]
    if database_url.startswith("sqlite"):
        # "demande" is in every chunk: only the chunks holding "passeport" qualify.
        assert len(found) == 2
    # A word no chunk held when counted (its count is remembered) does not hide the others...
    assert len(await lexical("demande xylophone")) == 49  # every chunk holding "demande"
    async with session_maker() as session:
        await add_document(
            session, corpus, "musique.txt", ["Une demande de xylophone."], collection="c"
        )
        await session.commit()
    # ...and is found as soon as a chunk holds it.
    assert (await lexical("demande xylophone"))[0] == "Une demande de xylophone."
    term_counts.clear()
