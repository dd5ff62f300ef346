"""Lexical search: BM25 over FTS5 on SQLite, French full text on PostgreSQL.

A user's question is not a query language: it is folded (case, accents), cut into words,
stripped of French stopwords, and each remaining word is quoted and OR-ed, so that ranking
decides (BM25 rewards documents holding the rarer words) and no character of the question can
be read as FTS5 or tsquery syntax.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from sqlalchemy import BindParameter, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from autan.retrieval.filters import Scope

# Keep in step with the tsvector of migration 0005, which folds with PostgreSQL's translate().
ACCENTED = "àâäáãåçéèêëíìîïñóòôöõúùûüýÿœæ"
FOLDED = "aaaaaaceeeeiiiinooooouuuuyyoa"
_TRANSLATE = str.maketrans(ACCENTED, FOLDED)
_WORD = re.compile(r"[^\W_]+")

# Folded French function words and question words: they match most passages and rank none.
_STOPWORDS = """
    a ai aie aient aies ait alors as au aucun aucune aupres aura aurai auraient aurais aurait
    auras aurez auriez aurions aurons auront aussi autre autres aux avaient avais avait avant
    avec avez aviez avions avoir avons ayant ayez ayons c ca car ce ceci cela celle celles celui
    ces cet cette ceux chaque chez ci combien comme comment d dans de des deja depuis doit doivent
    donc dont du elle elles en encore entre est et etaient etais etait etant ete etes etiez etions
    etre eu eue eues eumes eurent eus eusse eut eux faire fait faut ici il ils j je jusqu l la le
    les leur leurs lors lorsqu lorsque lui m ma mais me meme mes moi mon n ne ni non nos notre
    nous on ont ou par parce pas peu peut peuvent plus pour pourquoi pouvez qu quand que quel
    quelle quelles quels qui quoi s sa sans se sera seront ses si sois soit sommes son sont sous
    soyez suis sur t ta te tes toi ton tous tout toute toutes tres tu un une vers voici voila vos
    votre vous y
"""
STOPWORDS = frozenset(_STOPWORDS.split())


def fold(value: str) -> str:
    """Lower case without accents, as both lexical indexes see text."""
    value = value.lower().translate(_TRANSLATE)
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def query_terms(query: str) -> list[str]:
    """The distinct meaningful words of a question, folded, in order."""
    words = (w for w in _WORD.findall(fold(query)) if w not in STOPWORDS and len(w) > 1)
    return list(dict.fromkeys(words))


def fts5_query(terms: Sequence[str]) -> str:
    """An FTS5 MATCH expression: every term quoted (so never syntax), OR-ed."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


def tsquery(terms: Sequence[str]) -> str:
    """A to_tsquery() text: the terms OR-ed (terms hold only letters and digits)."""
    return " | ".join(terms)


# On SQLite, bm25() is lower for better matches; headings count double (a passage under
# "Conditions d'attribution" is about those conditions). Joining every match to its chunk
# row costs more than ranking it (chunk rows are large), so the index is ranked alone first
# and only its best rows are joined and filtered by scope. The inner order is total (score,
# then rowid), so the filtered prefix is exactly the scope's own ranking.
_SQLITE_TOP = """
SELECT c.id, f.score
FROM (
    SELECT rowid, -bm25(chunks_fts, 1.0, 2.0) AS score
    FROM chunks_fts
    WHERE chunks_fts MATCH :match
    ORDER BY score DESC, rowid
    LIMIT :depth
) AS f
JOIN chunks AS c ON c.id = f.rowid
JOIN documents AS d ON d.id = c.document_id
WHERE d.status = 'ready' AND ({scope})
ORDER BY f.score DESC, c.id
LIMIT :limit
"""

# When the scope is a small part of the index (a conversation's attachments, one team's
# collection among many), its rows are picked first and only those are ranked. `+rowid`
# keeps FTS5 from probing the index once per picked row.
_SQLITE_SCOPED = """
SELECT rowid, -bm25(chunks_fts, 1.0, 2.0) AS score
FROM chunks_fts
WHERE chunks_fts MATCH :match AND +rowid IN (
    SELECT c.id FROM chunks AS c
    WHERE ({scope})
      AND c.document_id NOT IN (SELECT id FROM documents WHERE status != 'ready')
)
ORDER BY score DESC, rowid
LIMIT :limit
"""

# ts_rank has no IDF: normalisation 1 (divide by 1 + log length) keeps long chunks from
# winning on repetitions alone.
_POSTGRESQL = """
SELECT c.id, ts_rank(c.search_vector, q.query, 1) AS score
FROM chunks AS c
JOIN documents AS d ON d.id = c.document_id,
     to_tsquery('french', :match) AS q(query)
WHERE c.search_vector @@ q.query AND d.status = 'ready' AND ({scope})
ORDER BY score DESC, c.id
LIMIT :limit
"""


# How many of the whole index's best matches are looked at before ranking the scope alone.
TOP_DEPTH = 200


async def lexical_search(
    session: AsyncSession, query: str, scope: Scope, limit: int
) -> list[tuple[int, float]]:
    """The best `limit` chunks of the scope for the words of `query`: (chunk id, score)."""
    terms = query_terms(query)
    if not terms or scope.empty:
        return []
    if session.get_bind().dialect.name == "postgresql":
        sql = _POSTGRESQL.format(scope=scope.sql("c"))
        return await _ranked(session, sql, scope, {"match": tsquery(terms), "limit": limit})
    match = fts5_query(terms)
    depth = max(4 * limit, TOP_DEPTH)
    found = await _ranked(
        session,
        _SQLITE_TOP.format(scope=scope.sql("c")),
        scope,
        {"match": match, "limit": limit, "depth": depth},
    )
    if len(found) < limit and await _matches_beyond(session, match, depth):
        # The scope's rows are too rare among the index's best: rank the scope alone.
        sql = _SQLITE_SCOPED.format(scope=scope.sql("c"))
        found = await _ranked(session, sql, scope, {"match": match, "limit": limit})
    return found


async def _matches_beyond(session: AsyncSession, match: str, depth: int) -> bool:
    """Whether the index holds more than `depth` matches (the first pass saw them all if not)."""
    statement = text(
        "SELECT count(*) FROM (SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH :match LIMIT :n)"
    )
    count = await session.scalar(statement, {"match": match, "n": depth + 1})
    return int(count or 0) > depth


async def _ranked(
    session: AsyncSession, sql: str, scope: Scope, parameters: dict[str, object]
) -> list[tuple[int, float]]:
    names: list[BindParameter[Any]] = [bindparam(name) for name in parameters]
    statement = text(sql).bindparams(*scope.bindparams(), *names)
    rows = await session.execute(statement, parameters)
    return [(int(chunk_id), float(score)) for chunk_id, score in rows]
