"""Shared fixtures of the Albert compatibility suite."""

from __future__ import annotations

import pytest

from tests.conftest import ENGINES


@pytest.fixture(scope="module", params=ENGINES)
def world_database(request: pytest.FixtureRequest) -> str:
    """One migrated database per engine for a whole module's world (its seeding is costly)."""
    url: str = request.getfixturevalue(f"{request.param}_databases").new()
    return url
