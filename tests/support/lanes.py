"""Test lanes: each test is marked from what it uses, so the fast lane needs no hand marking.

The fast lane (`-m "not slow"`) keeps the tests that run in the pytest process on SQLite
against in-process, protocol-speaking upstreams. A test is marked `slow`, plus one mark
per reason, when it (or a fixture it uses):

- `browser`: drives the real Chromium (the `browser` fixture);
- `model`: runs the real embedded models (the `embedded_models` fixture);
- `postgresql`: runs on the real PostgreSQL (the `postgresql_databases` fixture, or a
  parameter whose value is "postgresql", such as `database_url`'s);
- `processes`: starts child processes (simulated upstreams, `autan` commands, Redis, the
  OIDC provider, its own PostgreSQL), found in the source of the test and of its fixtures.

Modules whose tests are all heavy still say `pytestmark = pytest.mark.slow` themselves.
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parents[1]

FIXTURES = {
    "browser": "browser",
    "_chromium": "browser",
    "embedded_models": "model",
    "postgresql_databases": "postgresql",
    "redis_url": "processes",
    "oidc_provider": "processes",
}

# Parameter values that pick a heavy backend (`database_url`'s engines, the quota and
# throttle stores, the event bus), whether or not the fixture is named in the signature.
PARAMETERS = {"postgresql": "postgresql", "redis": "processes"}

# What starts a child process, as written in the tests and their support modules.
PROCESS_STARTS = (
    "start_sim(",
    "start_redis(",
    "RedisServer(",
    "start_oidc_provider(",
    "cli_deployment(",
    "autan_serve(",
    "OwnPostgres(",
    "EmbeddedModels(",
    "subprocess.",
    "create_subprocess_",
    "multiprocessing",
)


def _own_code(function: Any) -> bool:
    """Whether a function is the tests' own (pytest's and plugins' fixtures are not read)."""
    try:
        return Path(inspect.getfile(inspect.unwrap(function))).resolve().is_relative_to(TESTS)
    except TypeError:
        return False


def _names(code: types.CodeType) -> Iterator[str]:
    """The global names a function's code (and the code nested in it) refers to."""
    yield from code.co_names
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from _names(constant)


def _helpers(function: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    """The tests' own functions and classes that a function calls by name."""
    function = inspect.unwrap(function)
    code, scope = getattr(function, "__code__", None), getattr(function, "__globals__", {})
    for name in _names(code) if code is not None else ():
        helper = scope.get(name)
        if inspect.isfunction(helper) and _own_code(helper):
            yield helper
        elif inspect.isclass(helper) and _own_code(helper):
            yield from (m for m in vars(helper).values() if inspect.isfunction(m))


@functools.cache
def starts_processes(function: Callable[..., Any], depth: int = 3) -> bool:
    """Whether a function, or a helper of the tests it calls, starts a child process."""
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return False
    if any(start in source for start in PROCESS_STARTS):
        return True
    return depth > 0 and any(starts_processes(h, depth - 1) for h in _helpers(function))


def lanes_of(item: pytest.Item) -> set[str]:
    """The lane marks a collected test earns from its fixtures, parameters and source."""
    found: set[str] = set()
    names: list[str] = list(getattr(item, "fixturenames", ()))
    found.update(FIXTURES[name] for name in names if name in FIXTURES)
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        values = [value for value in callspec.params.values() if isinstance(value, str)]
        found.update(PARAMETERS[value] for value in values if value in PARAMETERS)
    functions = [getattr(item, "function", None)]
    definitions = item._fixtureinfo.name2fixturedefs if hasattr(item, "_fixtureinfo") else {}
    for name in names:
        functions.extend(definition.func for definition in definitions.get(name, ()))
    if any(f is not None and _own_code(f) and starts_processes(f) for f in functions):
        found.add("processes")
    return found


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        lanes = lanes_of(item)
        for lane in sorted(lanes):
            item.add_marker(lane)
        if lanes:
            item.add_marker("slow")
