"""lexical index over stemmed words and document titles, the same on both engines

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 00:30:00

Chunks gain `lexical_headings` (document title and headings) and `lexical_content`, the words
of autan.retrieval.analysis; the FTS5 table (SQLite) and the tsvector (PostgreSQL) are rebuilt
over them (with an fts5vocab table on SQLite). Existing chunks are analysed here, in batches.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from autan.retrieval.analysis import index_words

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 500
_TRIGGERS = ("chunks_fts_insert", "chunks_fts_delete", "chunks_fts_update")


def _sqlite_fts(content: str, headings: str, tokenize: str) -> list[str]:
    """The FTS5 table over two columns of `chunks` and the triggers keeping it in step."""
    new = f"new.id, new.{content}, new.{headings}"
    old = f"'delete', old.id, old.{content}, old.{headings}"
    into = f"chunks_fts(rowid, {content}, {headings})"
    into_command = f"chunks_fts(chunks_fts, rowid, {content}, {headings})"
    return [
        f"""CREATE VIRTUAL TABLE chunks_fts USING fts5(
            {content}, {headings}, content='chunks', content_rowid='id',
            tokenize="{tokenize}")""",
        f"CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN "
        f"INSERT INTO {into} VALUES ({new}); END",
        f"CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN "
        f"INSERT INTO {into_command} VALUES ({old}); END",
        f"CREATE TRIGGER chunks_fts_update AFTER UPDATE OF {content}, {headings} ON chunks BEGIN "
        f"INSERT INTO {into_command} VALUES ({old}); INSERT INTO {into} VALUES ({new}); END",
        "INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild')",
    ]


# How many chunks hold each word, read from the index (autan.retrieval.lexical.TermCounts).
_SQLITE_VOCABULARY = "CREATE VIRTUAL TABLE chunks_fts_vocab USING fts5vocab(chunks_fts, 'row')"


def _drop_sqlite_fts() -> None:
    op.execute("DROP TABLE IF EXISTS chunks_fts_vocab")
    for name in _TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS chunks_fts")


# The words are analysed already: 'simple' only splits them. Title and headings weigh more.
_POSTGRESQL_VECTOR = """ALTER TABLE chunks ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', lexical_headings), 'A')
    || to_tsvector('simple', lexical_content)
) STORED"""

# Migration 0005's vector, for the downgrade.
_FOLD = (
    "translate(lower({column}), 'àâäáãåçéèêëíìîïñóòôöõúùûüýÿœæ', 'aaaaaaceeeeiiiinooooouuuuyyoa')"
)
_POSTGRESQL_VECTOR_0005 = f"""ALTER TABLE chunks ADD COLUMN search_vector tsvector
GENERATED ALWAYS AS (
    setweight(to_tsvector('french', {_FOLD.format(column="headings")}), 'A')
    || to_tsvector('french', {_FOLD.format(column="content")})
) STORED"""


def _analyse_existing_chunks() -> None:
    connection = op.get_bind()
    chunks = sa.table(
        "chunks",
        sa.column("id", sa.Integer),
        sa.column("lexical_headings", sa.Text),
        sa.column("lexical_content", sa.Text),
    )
    update = (
        chunks.update()
        .where(chunks.c.id == sa.bindparam("chunk_id"))
        .values(
            lexical_headings=sa.bindparam("headings_words"),
            lexical_content=sa.bindparam("content_words"),
        )
    )
    last = 0
    while True:
        rows = connection.execute(
            sa.text(
                "SELECT c.id, c.content, c.headings, d.title FROM chunks AS c "
                "JOIN documents AS d ON d.id = c.document_id "
                "WHERE c.id > :last ORDER BY c.id LIMIT :batch"
            ),
            {"last": last, "batch": _BATCH},
        ).all()
        if not rows:
            return
        # The " > " between stored headings is no word: analysing them joined is the same.
        connection.execute(
            update,
            [
                {
                    "chunk_id": chunk_id,
                    "headings_words": index_words([title or "", headings]),
                    "content_words": index_words([content]),
                }
                for chunk_id, content, headings, title in rows
            ],
        )
        last = rows[-1][0]


def _drop_lexical_index(postgresql: bool) -> None:
    if postgresql:
        op.execute("DROP INDEX IF EXISTS ix_chunks_search_vector")
        op.execute("ALTER TABLE chunks DROP COLUMN IF EXISTS search_vector")
    else:
        _drop_sqlite_fts()


def _create_postgresql_index(vector: str) -> None:
    op.execute(vector)
    op.execute("CREATE INDEX ix_chunks_search_vector ON chunks USING gin (search_vector)")


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    _drop_lexical_index(postgresql)
    with op.batch_alter_table("chunks") as batch_op:
        batch_op.add_column(
            sa.Column("lexical_headings", sa.Text(), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("lexical_content", sa.Text(), nullable=False, server_default="")
        )
    _analyse_existing_chunks()
    if postgresql:
        _create_postgresql_index(_POSTGRESQL_VECTOR)
    else:
        # The words are folded already: the tokenizer only splits them.
        for statement in _sqlite_fts("lexical_content", "lexical_headings", "unicode61"):
            op.execute(statement)
        op.execute(_SQLITE_VOCABULARY)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    _drop_lexical_index(postgresql)
    with op.batch_alter_table("chunks") as batch_op:
        batch_op.drop_column("lexical_content")
        batch_op.drop_column("lexical_headings")
    if postgresql:
        _create_postgresql_index(_POSTGRESQL_VECTOR_0005)
    else:
        for statement in _sqlite_fts("content", "headings", "unicode61 remove_diacritics 2"):
            op.execute(statement)
