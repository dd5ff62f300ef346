"""Fixtures around a real OpenID Connect provider process.

A test module loads them with `pytest_plugins = ["tests.support.oidc_fixtures"]`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.oidc_provider import OidcProvider, start_oidc_provider


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProvider]:
    """One `oidc-provider-mock` process for the session (it takes ~2 s to start).

    Tests share it, so each one signs in a user of its own (`sub`) to stay independent.
    """
    provider = start_oidc_provider()
    try:
        yield provider
    finally:
        provider.stop()
