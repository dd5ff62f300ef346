"""The words the lexical index holds: French-stemmed, folded, without function words.

Both engines index the output of `index_words` (stored in `chunks.lexical_*`) and search the
output of `query_terms`, so SQLite and PostgreSQL see the same words. Stemming lets
"allocation" find "allocations" and "démarches" find "démarche"; folding (case, accents)
lets "electricite" find "électricité". Words are folded before they are stemmed: Snowball's
French stemmer reads accents, but people often type without them, and "maternite" must
reach the same stem as "maternité" (stemming first measured no better on the benchmarks).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from itertools import pairwise

import Stemmer

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

# A Stemmer object keeps a cache and is not safe to share between threads.
_local = threading.local()


def _stemmer() -> Stemmer.Stemmer:
    stemmer: Stemmer.Stemmer | None = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = Stemmer.Stemmer("french")
    return stemmer


def fold(value: str) -> str:
    """Lower case without accents."""
    value = value.lower().translate(_TRANSLATE)
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def analyse(text: str) -> list[str]:
    """The index words of a text, in order: folded, without function words, stemmed."""
    words = [w for w in _WORD.findall(fold(text)) if len(w) > 1 and w not in STOPWORDS]
    stems: list[str] = _stemmer().stemWords(words)
    return stems


def index_words(parts: Iterable[str]) -> str:
    """What the lexical index stores for these texts: their words, space-separated."""
    return " ".join(word for part in parts for word in analyse(part))


def query_terms(query: str) -> list[str]:
    """The distinct index words of a question, in order."""
    return list(dict.fromkeys(analyse(query)))


# Neighbouring words of a question found at most this many words apart in a passage ("carte
# grise", "congé ... maternité") count once more, as a NEAR group: +1.5 points of hybrid hit@1
# on service-public, +1 on PIAF.
NEAR_DISTANCE = 6


def _quoted(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def fts5_query(terms: Sequence[str], common: Collection[str] = ()) -> str:
    """An FTS5 MATCH expression: the terms quoted (so never syntax) and OR-ed, with NEAR
    groups of neighbouring terms.

    When some terms, not all, are `common` (held by a large share of the index), a row must
    also hold one of the others: ranking every row that holds a common word is most of the
    cost of a search, and such rows rank low anyway. The common words still count in the
    ranking of the rows that qualify.
    """
    words = " OR ".join(map(_quoted, terms))
    pairs = [f"NEAR({_quoted(a)} {_quoted(b)}, {NEAR_DISTANCE})" for a, b in pairwise(terms)]
    expression = " OR ".join([words, *pairs])
    rare = [term for term in terms if term not in common]
    if rare and len(rare) < len(terms):
        return f"({' OR '.join(map(_quoted, rare))}) AND ({expression})"
    return expression


def tsquery(terms: Sequence[str]) -> str:
    """A to_tsquery('simple') text: the terms OR-ed, each quoted (so never syntax)."""
    return " | ".join("'" + term.replace("'", "''").replace("\\", "\\\\") + "'" for term in terms)
