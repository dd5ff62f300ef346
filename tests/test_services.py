"""The application layer: one typed `Services` object, the only thing routes read from state."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from autan.services import Services

SRC = Path(__file__).resolve().parent.parent / "src" / "autan"
# The module that defines where the services live, and the error page, which must cope with
# a request that reached no lifespan.
_ALLOWED = {SRC / "services.py", SRC / "web" / "errors.py"}


def _state_reads(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr == "state"
        and isinstance(node.value, ast.Name)
        and node.value.id == "request"
    ]


def test_only_the_services_module_reads_request_state() -> None:
    found = {
        str(path.relative_to(SRC)): lines
        for path in sorted(SRC.rglob("*.py"))
        if path not in _ALLOWED and (lines := _state_reads(path))
    }
    assert found == {}, f"read services through autan.deps / services_of instead: {found}"


def test_the_checker_sees_a_state_read(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f(request):\n    return request.state.templates\n", encoding="utf-8")
    assert _state_reads(module) == [2]


def test_services_are_frozen_and_typed() -> None:
    fields = dataclasses.fields(Services)
    assert all(field.type != "Any" for field in fields)
    assert Services.__dataclass_params__.frozen  # type: ignore[attr-defined]
    with pytest.raises(dataclasses.FrozenInstanceError):
        instance = object.__new__(Services)
        instance.settings = None  # type: ignore[misc,assignment]


_INVALIDATIONS = ("forget", "invalidate", "evict")


def _invalidation_calls(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and (node.func.attr.startswith(_INVALIDATIONS) or node.func.attr == "wake")
    ]


def _http_modules() -> list[Path]:
    routers = [p for p in SRC.rglob("*.py") if p.stem.endswith(("router", "pages"))]
    return sorted({*routers, *(SRC / "web").glob("*.py"), *(SRC / "openai_api").glob("*.py")})


def test_no_router_invalidates_a_cache_itself() -> None:
    """Services emit domain events and the caches follow them; a route that had to forget a
    cache by hand would leave it stale the day someone writes a second route."""
    found = {
        str(path.relative_to(SRC)): lines
        for path in _http_modules()
        if (lines := _invalidation_calls(path))
    }
    assert found == {}


def test_the_checker_sees_an_invalidation(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f(gate, u):\n    gate.forget_user(u)\n", encoding="utf-8")
    assert _invalidation_calls(module) == [2]
