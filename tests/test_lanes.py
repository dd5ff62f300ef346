"""The fast lane (`-m "not slow"`) holds no test that needs a browser, a real model,
PostgreSQL or child processes: tests/support/lanes.py marks them from what they use."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.lanes import FIXTURES, PARAMETERS, lanes_of, starts_processes
from tests.support.processes import start_sim

ROOT = Path(__file__).resolve().parents[1]


def test_every_heavy_test_of_this_run_is_out_of_the_fast_lane(
    request: pytest.FixtureRequest,
) -> None:
    items = request.session.items
    assert items  # this test at least
    for item in items:
        marks = {mark.name for mark in item.iter_markers()}
        names = getattr(item, "fixturenames", ())
        heavy = {FIXTURES[name] for name in names if name in FIXTURES}
        params = getattr(item, "callspec", None)
        if params is not None:
            values = [v for v in params.params.values() if isinstance(v, str)]
            heavy |= {PARAMETERS[v] for v in values if v in PARAMETERS}
        assert heavy <= marks, item.nodeid
        assert not heavy or "slow" in marks, item.nodeid


def _with_an_upstream() -> None:
    """Never called: its source is what the lanes read."""
    start_sim("--tokens", "3").stop()


def test_what_starts_a_process_is_found_in_the_source(request: pytest.FixtureRequest) -> None:
    assert starts_processes(_with_an_upstream)
    assert not starts_processes(test_the_test_command_spreads_the_suite_over_every_core)
    # This test names `_with_an_upstream`: a helper that starts a process marks its callers.
    assert lanes_of(request.node) == {"processes"}
    assert request.node.get_closest_marker("slow") is not None


def test_the_test_command_spreads_the_suite_over_every_core() -> None:
    script = (ROOT / "scripts" / "test.sh").read_text()
    assert '-n "$workers" --dist load)' in script
    assert 'workers="${PYTEST_WORKERS:-auto}"' in script  # one worker per core, both lanes
    assert "pytest-xdist" in (ROOT / "pyproject.toml").read_text()
