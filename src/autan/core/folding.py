"""Text compared the way people type it: without case or accents ("aout" finds "Août").

One folding table serves Python and both engines, so that what a query folds and what the
database folds agree: SQLite calls the Python function (registered on each connection as
`autan_fold`), PostgreSQL runs the built-in `translate(lower(...))` with the same table (no
extension needed, `unaccent` is not installed everywhere).
"""

from __future__ import annotations

import unicodedata
from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


def _table() -> tuple[str, str]:
    """Latin letters with diacritics (both cases) and the plain lowercase letter of each."""
    source, target = [], []
    for code in range(0xC0, 0x250):
        char = chr(code)
        base = unicodedata.normalize("NFKD", char)[:1]
        if base != char and base.isascii() and base.isalpha():
            source.append(char)
            target.append(base.lower())
    return "".join(source), "".join(target)


FOLD_FROM, FOLD_TO = _table()
_TRANSLATION = str.maketrans(FOLD_FROM, FOLD_TO)
SQLITE_FUNCTION = "autan_fold"


def fold(text: str) -> str:
    """Lowercase, accents taken off Latin letters; one character for one (positions hold)."""
    return "".join(c.lower() if c.isascii() else c for c in text).translate(_TRANSLATION)


def _sqlite_fold(value: object) -> str | None:
    return fold(value) if isinstance(value, str) else None


def register_sqlite_fold(dbapi_connection: Any) -> None:
    """Make `autan_fold(text)` callable in SQL on a new SQLite connection."""
    dbapi_connection.create_function(SQLITE_FUNCTION, 1, _sqlite_fold, deterministic=True)


class folded(FunctionElement[str]):  # noqa: N801 - used like SQL's own functions
    """`folded(column)`: the column's text folded as `fold` does, on either engine."""

    type = String()
    inherit_cache = True
    name = SQLITE_FUNCTION


@compiles(folded)
def _compile_sqlite(element: folded, compiler: Any, **kw: Any) -> str:
    return f"{SQLITE_FUNCTION}({compiler.process(element.clauses, **kw)})"


@compiles(folded, "postgresql")
def _compile_postgresql(element: folded, compiler: Any, **kw: Any) -> str:
    # Only ASCII case is left to lower(): a database in the C locale lowers nothing else,
    # and the table maps both cases of accented letters itself.
    inner = compiler.process(element.clauses, **kw)
    return f"translate(lower({inner}), '{FOLD_FROM}', '{FOLD_TO}')"
