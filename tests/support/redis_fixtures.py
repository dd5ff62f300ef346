"""Pytest fixtures for a real Redis server shared by the test session.

Use them from a test module with `from tests.support.redis_fixtures import redis_url`, or
for the whole suite with `pytest_plugins = ["tests.support.redis_fixtures"]` in the root
`conftest.py`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.redis_server import RedisServer


def start_redis(attempts: int = 3) -> RedisServer:
    """Start a Redis server on a free port, trying again if another process took the port."""
    for attempt in range(attempts):
        server = RedisServer()
        try:
            server.start()
        except RuntimeError:
            if attempt == attempts - 1:
                raise
        else:
            return server
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The `redis://` URL of one Redis server for the whole session.

    Tests keep apart by using their own keys (for instance a user id of their own).
    """
    server = start_redis()
    try:
        yield server.url
    finally:
        server.stop()
