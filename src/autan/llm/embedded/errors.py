"""Errors of the embedded model servers (plain exceptions, no HTTP)."""

from __future__ import annotations


class EmbeddedModelError(RuntimeError):
    """An embedded model server cannot be started, or its model file is refused."""
