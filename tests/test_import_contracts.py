"""The import contracts of pyproject.toml hold, and they do catch a violation."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(*args: str, cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", *args],
        cwd=cwd,
        env={"PYTHONPATH": str(pythonpath), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_code_keeps_its_contracts() -> None:
    result = _lint(cwd=ROOT, pythonpath=ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_every_feature_module_is_classified() -> None:
    """A new module of a feature with routers must be named as HTTP or as below HTTP."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    forbidden = next(
        c
        for c in contracts["tool"]["importlinter"]["contracts"]
        if c["id"] == "features-below-http"
    )
    known = set(forbidden["source_modules"]) | set(forbidden["forbidden_modules"])
    graph = grimp.build_graph("autan", cache_dir=None)
    with_http = {
        package
        for package in graph.find_children("autan")
        if any(_is_http(m) for m in graph.find_children(package))
    }
    # The packages that are HTTP through and through, and the entry points.
    with_http -= {"autan.web", "autan.openai_api", "autan.ops"}
    assert {"autan.accounts", "autan.chat", "autan.documents", "autan.insights"} <= with_http
    children = {module for package in with_http for module in graph.find_children(package)}
    assert children - known == set()


def _is_http(module: str) -> bool:
    name = module.rsplit(".", 1)[-1]
    return name == "pages" or name.endswith(("_pages", "router"))


def _package(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


_CONFIG = """\
[importlinter]
root_package = shop

[importlinter:contract:layers]
name = core below features
type = layers
layers =
    shop.orders
    shop.core

[importlinter:contract:routers]
name = routers do not import routers
type = independence
modules =
    shop.orders.router
    shop.web.router
"""


def test_a_router_importing_a_router_breaks_the_contract(tmp_path: Path) -> None:
    _package(
        tmp_path,
        {
            "shop/__init__.py": "",
            "shop/core/__init__.py": "",
            "shop/orders/__init__.py": "",
            "shop/orders/router.py": "ROUTES = []\n",
            "shop/web/__init__.py": "",
            "shop/web/router.py": "from shop.orders.router import ROUTES\n",
            "contracts.ini": _CONFIG,
        },
    )
    result = _lint("--config", "contracts.ini", cwd=tmp_path, pythonpath=tmp_path)
    assert result.returncode == 1
    assert "routers do not import routers BROKEN" in result.stdout
    assert "core below features KEPT" in result.stdout


def test_core_importing_a_feature_breaks_the_contract(tmp_path: Path) -> None:
    _package(
        tmp_path,
        {
            "shop/__init__.py": "",
            "shop/core/__init__.py": "from shop.orders import models\n",
            "shop/orders/__init__.py": "",
            "shop/orders/models.py": "",
            "shop/orders/router.py": "",
            "shop/web/__init__.py": "",
            "shop/web/router.py": "",
            "contracts.ini": _CONFIG,
        },
    )
    result = _lint("--config", "contracts.ini", cwd=tmp_path, pythonpath=tmp_path)
    assert result.returncode == 1
    assert "core below features BROKEN" in result.stdout
    assert "shop.core -> shop.orders.models" in result.stdout
