"""Albert's document metadata: what a document may carry, and the search filters over it.

A document's metadata is a flat JSON object of at most 10 scalar values (Albert's
`ChunkMetadata`: strings of at most 255 characters, numbers, booleans), returned with each
of its chunks. `/v1/search` filters on it with Albert's `metadata_filters`: one comparison
(`{"key", "type": "eq"|"sw"|"ew"|"co", "value"}`) or a compound of 2 to 4 of them
(`{"filters": [...], "operator": "and"|"or"}`). Filters become SQL on the documents table
(`json_extract` on SQLite, `->>` on PostgreSQL), so only matching documents are searched.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    Tag,
)
from sqlalchemy import (
    ColumnElement,
    Float,
    Text,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from autan.core.errors import InvalidRequest
from autan.documents.models import Document, DocumentStatus

MAX_KEYS = 10
MAX_KEY_CHARS = 64
MAX_TEXT_CHARS = 255
MAX_JSON_BYTES = 4096
# Albert's bound on numbers (16 digits): beyond it a float loses integers.
MAX_NUMBER = 9_999_999_999_999_999
# Keys name a JSON path on both engines: letters, digits, `_`, `-`, `.` would be a path step.
_KEY = re.compile(r"^[A-Za-z0-9_\-]+$")

Scalar = str | int | float | bool
Metadata = dict[str, Scalar]


def _bad(reason: str, param: str, **values: Any) -> InvalidRequest:
    return InvalidRequest(reason, param=param, values=values)


def parse_metadata(raw: str | None, param: str = "metadata") -> Metadata | None:
    """A form's `metadata` field (a JSON object as text) checked, or None when empty."""
    if raw is None or not raw.strip():
        return None
    if len(raw.encode()) > MAX_JSON_BYTES:
        raise _bad(
            "`metadata` is too large: at most {limit} bytes of JSON.", param, limit=MAX_JSON_BYTES
        )
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise _bad(
            "`metadata` must be a JSON object, such as {example}.",
            param,
            example='{"source_title": "Fiche"}',
        ) from None
    return check_metadata(value, param)


def check_metadata(value: Any, param: str = "metadata") -> Metadata | None:
    """A metadata object checked against Albert's rules (raise `InvalidRequest` if not)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad(
            "`metadata` must be a JSON object, such as {example}.",
            param,
            example='{"source_title": "Fiche"}',
        )
    if len(value) > MAX_KEYS:
        raise _bad(
            "`metadata` holds {count} keys; at most {limit} are allowed.",
            param,
            count=len(value),
            limit=MAX_KEYS,
        )
    if len(json.dumps(value).encode()) > MAX_JSON_BYTES:
        raise _bad(
            "`metadata` is too large: at most {limit} bytes of JSON.", param, limit=MAX_JSON_BYTES
        )
    checked: Metadata = {}
    for key, item in value.items():
        check_key(key, param)
        checked[key] = check_value(item, f"{param}.{key}")
    return checked or None


def check_key(key: str, param: str) -> None:
    """Refuse a key that cannot name a metadata field."""
    if not _KEY.match(key) or len(key) > MAX_KEY_CHARS:
        raise _bad(
            "The metadata key {key} is not allowed: use 1 to {limit} letters, digits, `_` or `-`.",
            param,
            key=json.dumps(key)[:80],
            limit=MAX_KEY_CHARS,
        )


def check_value(value: Any, param: str) -> Scalar:
    """A metadata value: a string of at most 255 characters, a number or a boolean."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if abs(value) > MAX_NUMBER or value != value:  # NaN is not equal to itself
            raise _bad("`{field}` is out of range.", param, field=param)
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > MAX_TEXT_CHARS:
            raise _bad(
                "`{field}` must hold 1 to {limit} characters.",
                param,
                field=param,
                limit=MAX_TEXT_CHARS,
            )
        return text
    raise _bad(
        "`{field}` must be a string, a number or a boolean (lists and objects are not allowed).",
        param,
        field=param,
    )


# --- search filters ----------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ComparisonFilter(_Strict):
    """Albert's `ComparisonFilter`: one metadata key compared with one value."""

    key: str = Field(min_length=1, max_length=MAX_KEY_CHARS)
    type: Literal["eq", "sw", "ew", "co"]
    value: (
        StrictBool
        | StrictInt
        | StrictFloat
        | Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS)]
    )


class CompoundFilter(_Strict):
    """Albert's `CompoundFilter`: 2 to 4 comparisons joined by `and` or `or`."""

    filters: list[ComparisonFilter] = Field(min_length=2, max_length=4)
    operator: Literal["and", "or"]


def _kind(value: Any) -> str:
    compound = isinstance(value, dict) and ("filters" in value or "operator" in value)
    return "compound" if compound else "comparison"


MetadataFilter = ComparisonFilter | CompoundFilter
# Chosen by its keys, so that an error names the fields of the filter the client meant.
MetadataFilterIn = Annotated[
    Annotated[ComparisonFilter, Tag("comparison")] | Annotated[CompoundFilter, Tag("compound")],
    Discriminator(_kind),
]


def _text_of(dialect: str, key: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        # Typed as text, so that LIKE and = bind their values as text, not as JSON.
        return Document.meta.op("->>", return_type=Text())(literal(key, Text()))
    return func.json_extract(Document.meta, literal(f"$.{key}"))


def _type_of(dialect: str, key: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.json_typeof(Document.meta.op("->")(literal(key, Text())))
    return func.json_type(Document.meta, literal(f"$.{key}"))


def _like(value: str, kind: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return {"sw": f"{escaped}%", "ew": f"%{escaped}", "co": f"%{escaped}%"}[kind]


def _comparison(dialect: str, rule: ComparisonFilter) -> ColumnElement[bool]:
    check_key(rule.key, "metadata_filters.key")
    text, kind = _text_of(dialect, rule.key), _type_of(dialect, rule.key)
    strings = ("string",) if dialect == "postgresql" else ("text",)
    if rule.type != "eq":
        if not isinstance(rule.value, str):
            raise _bad(
                "The `{type}` filter compares text: give a string as `value`.",
                "metadata_filters.value",
                type=rule.type,
            )
        return and_(kind.in_(strings), text.like(_like(rule.value, rule.type), escape="\\"))
    value = rule.value
    if isinstance(value, bool):
        booleans = ("boolean",) if dialect == "postgresql" else ("true", "false")
        if dialect == "postgresql":
            return and_(kind.in_(booleans), text == ("true" if value else "false"))
        return and_(kind.in_(booleans), text == int(value))
    if isinstance(value, int | float):
        numbers = ("number",) if dialect == "postgresql" else ("integer", "real")
        # A CASE, not an AND: PostgreSQL does not promise to test the type before the cast.
        return case((kind.in_(numbers), cast(text, Float)), else_=None) == float(value)
    return and_(kind.in_(strings), text == value)


def filter_clause(dialect: str, rule: MetadataFilter) -> ColumnElement[bool]:
    """The SQL condition on `documents` that a metadata filter stands for."""
    if isinstance(rule, ComparisonFilter):
        return _comparison(dialect, rule)
    parts = [_comparison(dialect, part) for part in rule.filters]
    return and_(*parts) if rule.operator == "and" else or_(*parts)


async def matching_documents(
    session: AsyncSession,
    rule: MetadataFilter,
    collection_ids: Sequence[uuid.UUID],
    document_ids: Sequence[uuid.UUID],
) -> list[uuid.UUID]:
    """The ready documents of these (already allowed) collections and documents that match."""
    if not collection_ids and not document_ids:
        return []
    scope = or_(
        Document.collection_id.in_(list(collection_ids)) if collection_ids else false(),
        Document.id.in_(list(document_ids)) if document_ids else false(),
    )
    dialect = session.get_bind().dialect.name
    statement = select(Document.id).where(
        scope, Document.status == DocumentStatus.READY, filter_clause(dialect, rule)
    )
    return list((await session.scalars(statement)).all())
