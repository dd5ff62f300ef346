"""The console log: a traceback names the frames and the error, never a frame's variables."""

from __future__ import annotations

import pytest
import structlog

from autan.core.logging import configure


def _sign_in(password: str) -> None:
    raise ValueError("refused")


@pytest.mark.parametrize("json", [False, True])
def test_a_logged_traceback_shows_no_local_variable(
    json: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("INFO", json=json)
    try:
        log = structlog.get_logger("autan.test")
        # Built at run time so that the traceback's source lines cannot show it.
        password = "-".join(["correct", "horse", "battery", "staple"])
        try:
            _sign_in(password)
        except ValueError:
            log.warning("sign_in_failed", exc_info=True)
    finally:
        configure("INFO")  # as the suite's `product_logging` left it
    out = capsys.readouterr().out
    assert "sign_in_failed" in out
    assert "_sign_in" in out and "ValueError: refused" in out
    assert "correct-horse" not in out
