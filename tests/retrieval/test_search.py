"""Search over real chunks with real e5 vectors, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.documents.models import Chunk, Collection, Document, DocumentStatus, Visibility
from autan.retrieval.analysis import fts5_query, query_terms, tsquery
from autan.retrieval.grounding import too_far
from autan.retrieval.hybrid import reciprocal_rank_fusion, score_fusion
from autan.retrieval.index import add_chunks, passage_text
from autan.retrieval.search import QueryVectorRequired, SearchHit, search
from autan.settings import Settings
from tests.retrieval.corpus import Corpus, Draft, build, passage_vector, query_vector

Maker = async_sessionmaker[AsyncSession]


@pytest.fixture
async def corpus(session_maker: Maker) -> Corpus:
    async with session_maker() as session:
        return await build(session)


def names(hits: list[SearchHit]) -> list[str]:
    return [hit.document_name for hit in hits]


async def run(session_maker: Maker, query: str, **kwargs: Any) -> list[SearchHit]:
    vector = query_vector(query) if kwargs.get("method", "hybrid") != "lexical" else None
    async with session_maker() as session:
        return await search(session, query=query, query_vector=vector, **kwargs)


async def test_lexical_search_ignores_accents_and_case(
    session_maker: Maker, corpus: Corpus
) -> None:
    hits = await run(
        session_maker,
        "SECURITE sociale",
        collection_ids=[corpus.collections["A"]],
        method="lexical",
    )
    assert names(hits) == ["sante.txt"]
    hit = hits[0]
    assert hit.content.startswith("La Sécurité sociale")
    assert (hit.page, hit.pages, hit.position, hit.method) == (1, "1", 0, "lexical")
    assert hit.collection_id == corpus.collections["A"] and hit.score > 0


async def test_lexical_search_matches_headings(session_maker: Maker, corpus: Corpus) -> None:
    hits = await run(
        session_maker, "transports", collection_ids=[corpus.collections["A"]], method="lexical"
    )
    assert [(h.document_name, h.headings) for h in hits] == [("permis.txt", "Transports")]


@pytest.mark.parametrize(
    "query",
    [
        '"',
        "*",
        "NEAR(",
        "-",
        'sécurité" OR "x',
        "soins*",
        "NEAR(soins médicaux, 2)",
        "-permis AND",
        "col:soins",
        "^soins",
        "l'été (à) {x} [y] & | !",
        "le la les de",
    ],
)
async def test_query_syntax_is_never_interpreted(
    session_maker: Maker, corpus: Corpus, query: str
) -> None:
    hits = await run(
        session_maker, query, collection_ids=[corpus.collections["A"]], method="lexical"
    )
    assert all(hit.document_name in {"sante.txt", "permis.txt"} for hit in hits)
    if query.startswith("NEAR(soins"):
        assert names(hits) == ["sante.txt"]


async def test_semantic_search_finds_the_meaning(session_maker: Maker, corpus: Corpus) -> None:
    hits = await run(
        session_maker,
        "Combien de temps peut-on s'arrêter après la naissance d'un bébé ?",
        collection_ids=[corpus.collections["A"]],
        method="semantic",
        k=3,
    )
    assert hits[0].content == "Le congé de maternité dure seize semaines."
    assert hits[0].headings == "Congés > Maternité"
    assert sorted(names(hits)) == ["permis.txt", "sante.txt", "sante.txt"]  # never the unready
    assert hits[0].score > hits[1].score > hits[2].score


async def test_semantic_search_needs_a_vector(session_maker: Maker, corpus: Corpus) -> None:
    async with session_maker() as session:
        with pytest.raises(QueryVectorRequired):
            await search(
                session,
                query="x",
                query_vector=None,
                collection_ids=[corpus.collections["A"]],
                method="semantic",
            )
        # Hybrid without a vector degrades to lexical rather than failing.
        hits = await search(
            session, query="permis", query_vector=None, collection_ids=[corpus.collections["A"]]
        )
    assert [(h.document_name, h.method) for h in hits] == [("permis.txt", "lexical")]


async def test_lexical_search_stems_french_words(session_maker: Maker, corpus: Corpus) -> None:
    scope = {"collection_ids": [corpus.collections["A"]], "method": "lexical"}
    # "remboursements" / "rembourse", "médical" / "médicaux": the same stems.
    hits = await run(session_maker, "Remboursements MEDICAL", **scope)
    assert [h.content for h in hits] == [
        "La Sécurité sociale rembourse une partie des soins médicaux."
    ]
    hits = await run(session_maker, "renouvellement", **scope)
    assert names(hits) == ["permis.txt"]


async def test_lexical_search_matches_document_titles(session_maker: Maker, corpus: Corpus) -> None:
    # Neither passage of sante.txt holds the word: its title does.
    hits = await run(
        session_maker, "santé", collection_ids=[corpus.collections["A"]], method="lexical"
    )
    assert names(hits) == ["sante.txt", "sante.txt"]


async def test_hybrid_fuses_both_rankings(session_maker: Maker, corpus: Corpus) -> None:
    query = "Quels soins la sécurité sociale rembourse-t-elle ?"
    scope = {"collection_ids": [corpus.collections["A"]], "k": 10}
    lexical = await run(session_maker, query, method="lexical", **scope)
    semantic = await run(session_maker, query, method="semantic", **scope)
    hybrid = await run(session_maker, query, method="hybrid", **scope)
    expected = score_fusion(
        [[(h.chunk_id, h.score) for h in lexical], [(h.chunk_id, h.score) for h in semantic]],
        weights=[1, 1.2],
    )
    assert [h.chunk_id for h in hybrid] == [chunk_id for chunk_id, _ in expected]
    assert [h.score for h in hybrid] == pytest.approx([score for _, score in expected])
    assert hybrid[0].content.startswith("La Sécurité sociale rembourse")
    assert {h.method for h in hybrid} == {"hybrid"}

    # The fusion follows the deployment's settings (AUTAN_RETRIEVAL__*).
    tuning = Settings(retrieval={"fusion": "rank", "semantic_weight": 0, "rrf_k": 10}).retrieval
    words_only = await run(session_maker, query, method="hybrid", tuning=tuning, **scope)
    # Weight 0: the lexical order, then what only the semantic ranking found, at score 0.
    assert [h.chunk_id for h in words_only][: len(lexical)] == [h.chunk_id for h in lexical]
    assert {h.score for h in words_only[len(lexical) :]} <= {0.0}
    assert words_only[0].score == pytest.approx(1 / 11)


async def test_hits_carry_the_dense_cosine_that_abstention_reads(
    session_maker: Maker, corpus: Corpus
) -> None:
    query = "Combien de temps dure le congé de maternité ?"
    scope = {"collection_ids": [corpus.collections["A"]], "k": 10}
    semantic = await run(session_maker, query, method="semantic", **scope)
    hybrid = await run(session_maker, query, method="hybrid", **scope)
    lexical = await run(session_maker, query, method="lexical", **scope)
    cosines = {h.chunk_id: h.score for h in semantic}
    # Semantic: the score is the cosine; hybrid: the fused score, beside the same cosine.
    assert all(h.cosine == h.score for h in semantic)
    assert {h.chunk_id: h.cosine for h in hybrid} == pytest.approx(cosines)
    assert [h.score for h in hybrid] != [cosines[h.chunk_id] for h in hybrid]
    assert lexical and all(h.cosine is None for h in lexical)
    # The cosine is the question's with the chunk as indexed (title, headings, text).
    best = max(semantic, key=lambda h: h.score)
    draft = Draft(best.content, best.position, headings=tuple(best.headings.split(" > ")))
    indexed = passage_text(best.document_name.removesuffix(".txt"), draft)
    vector, passage = np.asarray(query_vector(query)), np.asarray(passage_vector(indexed))
    expected = float(vector @ passage / (np.linalg.norm(vector) * np.linalg.norm(passage)))
    assert best.cosine == pytest.approx(expected, abs=1e-3)


def test_too_far_abstains_only_below_the_threshold_and_only_on_cosines() -> None:
    def hit(cosine: float | None) -> SearchHit:
        return SearchHit(
            1, uuid.uuid4(), None, "d", "c", None, "", "", 0, 1.0, "hybrid", None, cosine
        )

    assert too_far([hit(0.70), hit(0.75)], 0.8)
    assert not too_far([hit(0.70), hit(0.85)], 0.8)  # the closest passage decides
    assert not too_far([hit(0.70)], 0.0)  # 0: never
    assert not too_far([hit(None)], 0.8)  # lexical hits carry no cosine: no decision
    assert not too_far([], 0.8)


async def test_a_failed_hybrid_search_leaves_the_session_usable(
    session_maker: Maker, corpus: Corpus, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("on PostgreSQL a failed statement aborts the transaction by design")
    async with session_maker() as session:
        # A vector of the wrong size fails the NumPy scoring while the lexical query runs.
        with pytest.raises(ValueError):
            await search(
                session,
                query="sécurité sociale",
                query_vector=[0.1, 0.2, 0.3],
                collection_ids=[corpus.collections["A"]],
            )
        assert await session.scalar(select(func.count()).select_from(Chunk)) == 6


def test_score_fusion_standardises_each_ranking() -> None:
    # Lexical scores far apart, cosines close: each counts by its distance from its own mean.
    lexical = [(1, 30.0), (2, 10.0), (3, 8.0)]
    semantic = [(3, 0.86), (2, 0.85), (4, 0.80)]
    fused = score_fusion([lexical, semantic])
    z_lexical = {1: 1.4094, 2: -0.6040, 3: -0.8054}
    z_semantic = {3: 0.8890, 2: 0.5080, 4: -1.3970}
    expected = {
        1: z_lexical[1] + z_semantic[4],  # absent from a ranking: that ranking's lowest
        2: z_lexical[2] + z_semantic[2],
        3: z_lexical[3] + z_semantic[3],
        4: z_lexical[3] + z_semantic[4],
    }
    assert [c for c, _ in fused] == sorted(expected, key=lambda c: -expected[c])
    assert dict(fused) == pytest.approx(expected, abs=1e-3)
    # Weights scale each ranking; an empty ranking leaves the other alone.
    assert [c for c, _ in score_fusion([lexical, semantic], weights=[0.0, 1.0])][:2] == [3, 2]
    assert score_fusion([lexical, []]) == score_fusion([lexical])
    assert score_fusion([[(7, 0.5)]]) == [(7, 0.0)]
    with pytest.raises(ValueError):
        score_fusion([lexical], weights=[1.0, 2.0])


def test_reciprocal_rank_fusion_order_and_weights() -> None:
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 2]], k=60)
    # A top rank and a low one beat two middle ones.
    assert [chunk_id for chunk_id, _ in fused] == [3, 2, 1]
    assert [score for _, score in fused] == pytest.approx([1 / 63 + 1 / 61, 2 / 62, 1 / 61])
    weighted = reciprocal_rank_fusion([[1, 2], [2, 1]], k=1, weights=[3.0, 1.0])
    assert [chunk_id for chunk_id, _ in weighted] == [1, 2]
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([[1]], weights=[1.0, 2.0])


@pytest.mark.parametrize("method", ["lexical", "semantic", "hybrid"])
async def test_filters_are_strict(session_maker: Maker, corpus: Corpus, method: str) -> None:
    query = "sécurité sociale des indépendants"
    only_b = await run(
        session_maker, query, collection_ids=[corpus.collections["B"]], method=method
    )
    assert names(only_b) == ["independants.txt"]
    only_a = await run(
        session_maker, query, collection_ids=[corpus.collections["A"]], method=method, k=10
    )
    assert "independants.txt" not in names(only_a) and "en-cours.txt" not in names(only_a)
    assert await run(session_maker, query, method=method) == []
    attached = corpus.documents["piece-jointe.txt"]
    both = await run(
        session_maker,
        "carte grise déménagement sécurité sociale",
        collection_ids=[corpus.collections["B"]],
        document_ids=[attached],
        method=method,
        k=10,
    )
    assert sorted(names(both)) == ["independants.txt", "piece-jointe.txt"]


@pytest.mark.parametrize("method", ["lexical", "semantic"])
async def test_only_ready_documents_are_searched(
    session_maker: Maker, corpus: Corpus, method: str
) -> None:
    query = "sécurité sociale des étudiants"
    scope = {"collection_ids": [corpus.collections["A"]], "k": 10, "method": method}
    assert "en-cours.txt" not in names(await run(session_maker, query, **scope))
    async with session_maker() as session:
        await session.execute(
            update(Document)
            .where(Document.id == corpus.documents["en-cours.txt"])
            .values(status=DocumentStatus.READY)
        )
        await session.commit()
    assert names(await run(session_maker, query, **scope))[0] == "en-cours.txt"
    # A document also named directly is still searched only once it is ready.
    async with session_maker() as session:
        await session.execute(
            update(Document)
            .where(Document.id == corpus.documents["en-cours.txt"])
            .values(status=DocumentStatus.FAILED)
        )
        await session.commit()
    hits = await run(
        session_maker, query, document_ids=[corpus.documents["en-cours.txt"]], method=method
    )
    assert hits == []


async def lexical_rows(session: AsyncSession, word: str) -> int:
    """Rows of the lexical index matching a word, read from the index itself."""
    if session.get_bind().dialect.name == "sqlite":
        sql = "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH :word"
        match = fts5_query(query_terms(word))
    else:
        sql = "SELECT count(*) FROM chunks WHERE search_vector @@ to_tsquery('simple', :word)"
        match = tsquery(query_terms(word))
    return int((await session.execute(text(sql), {"word": match})).scalar_one())


async def test_deleting_a_document_removes_chunks_index_rows_and_vectors(
    session_maker: Maker, corpus: Corpus
) -> None:
    from autan.retrieval.index import delete_document_chunks

    sante = corpus.documents["sante.txt"]
    scope = {"collection_ids": [corpus.collections["A"]], "k": 10}
    before = await run(session_maker, "congé maternité", method="semantic", **scope)
    assert "sante.txt" in names(before)
    async with session_maker() as session:
        assert await lexical_rows(session, "maternite") == 1
        await delete_document_chunks(session, sante)
        await session.commit()
    async with session_maker() as session:
        count = select(func.count()).select_from(Chunk).where(Chunk.document_id == sante)
        assert await session.scalar(count) == 0
        assert await lexical_rows(session, "maternite") == 0
    for method in ("lexical", "semantic", "hybrid"):
        hits = await run(session_maker, "congé maternité", method=method, **scope)
        assert "sante.txt" not in names(hits)
    # Deleting the document row cascades to its chunks and their index entries too.
    async with session_maker() as session:
        assert await lexical_rows(session, "permis") == 1
        await session.execute(delete(Document).where(Document.id == corpus.documents["permis.txt"]))
        await session.commit()
        assert await lexical_rows(session, "permis") == 0
    assert await run(session_maker, "permis de conduire", method="semantic", **scope) == []


async def test_lexical_ranking_is_exact_for_a_scope_crowded_out_of_the_index(
    session_maker: Maker, corpus: Corpus
) -> None:
    """A collection whose best match ranks below hundreds of others' still gets its own best.

    Lexical search ranks the whole index's best rows first and falls back to ranking the
    scope alone when those hold too few of the scope's rows; both must give the same order.
    """
    async with session_maker() as session:
        crowd = Collection(
            org_id=corpus.org_id, owner_id=corpus.user_id, name="C", visibility=Visibility.PRIVATE
        )
        session.add(crowd)
        await session.flush()
        corpus.collections["C"] = crowd.id
        drafts = [
            Draft(f"Sécurité sociale, sécurité sociale : fiche numéro {i}.", i) for i in range(260)
        ]
        document = Document(
            collection_id=crowd.id,
            owner_id=corpus.user_id,
            org_id=corpus.org_id,
            name="foule.txt",
            format="txt",
            size_bytes=100,
            sha256="f" * 64,
            status=DocumentStatus.READY,
        )
        session.add(document)
        await session.flush()
        await add_chunks(session, document, drafts, [None] * len(drafts))
        await session.commit()

    query = "sécurité sociale"
    crowded = await run(session_maker, query, collection_ids=[crowd.id], k=3, method="lexical")
    assert names(crowded) == ["foule.txt"] * 3
    assert [h.position for h in crowded] == [0, 1, 2]  # equal scores: index order
    # Collection A's match ranks below the 260 repetitive rows of C.
    alone = await run(
        session_maker, query, collection_ids=[corpus.collections["A"]], k=3, method="lexical"
    )
    assert names(alone) == ["sante.txt"]
    both = await run(
        session_maker,
        query,
        collection_ids=[corpus.collections["B"]],
        document_ids=[corpus.documents["sante.txt"]],
        k=5,
        method="lexical",
    )
    assert sorted(names(both)) == ["independants.txt", "sante.txt"]
