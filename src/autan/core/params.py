"""Bounds on query parameters, defined once: every page offset, row id and cursor a route reads.

A number past what its column can hold reaches the driver as an overflow (a 500), and a
naive datetime cannot be compared with a UTC column; both are refused here with a 400 before
any route runs. Request bodies use the same limits through `StrictInt` fields in each
feature's `schemas.py`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import AwareDatetime

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
MAX_OFFSET = 1_000_000
"""Deeper than any real listing; beyond it a client should filter, not page."""


Offset = Annotated[
    int, Query(ge=0, le=MAX_OFFSET, description=f"Rows to skip, at most {MAX_OFFSET:,}.")
]
"""How many rows of a listing to skip."""

BigIdCursor = Annotated[
    int | None, Query(ge=1, le=INT64_MAX, description="Only rows with a smaller id.")
]
"""A page cursor over a 64-bit integer primary key (the audit log)."""

PositionCursor = Annotated[
    int, Query(ge=0, le=INT32_MAX, description="Only messages before this position.")
]
"""A page cursor over a 32-bit position (the messages of a conversation)."""

# Which zone a naive instant meant cannot be guessed (a silent UTC would shift the page by
# hours), so it is refused; the cursors the pages write are aware.
TimeCursor = Annotated[
    AwareDatetime | None,
    Query(description="Only rows older than this instant (ISO 8601 with a time zone)."),
]
"""A page cursor over a timestamp: time-zone aware, or refused."""

Slug = Annotated[str, Path(min_length=1, max_length=64, description="An organisation's slug.")]
"""An organisation's slug in a path (the column holds 64 characters)."""

SearchText = Annotated[str, Query(max_length=1000, description="Words to look for.")]
"""Free text to search for; services read its first 200 characters."""
