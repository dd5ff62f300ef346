"""The documentation keeps up with the code: settings described, packages listed, variables real."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from autan.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "autan"
# Read by the test suite, not by Autan: documented in the README next to the tests.
NOT_SETTINGS = {"AUTAN_SCREENSHOTS"}


def _models_in(annotation: object) -> Iterator[type[BaseModel]]:
    """The pydantic models an annotation holds (`X`, `X | None`, `list[X]`, …)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for argument in typing.get_args(annotation):
        yield from _models_in(argument)


def _fields(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, str | None]]:
    """Every field of a settings model and of the models nested in it, with its description."""
    for name, field in model.model_fields.items():
        yield prefix + name, field.description
        for nested in _models_in(field.annotation):
            yield from _fields(nested, f"{prefix}{name}.")


def _setting_exists(variable: str) -> bool:
    """Whether `AUTAN_A__B` names a field `a.b` of `Settings` (nested sections use `__`)."""
    model: type[BaseModel] | None = Settings
    for part in variable.removeprefix("AUTAN_").lower().split("__"):
        if model is None or part not in model.model_fields:
            return False
        model = next(_models_in(model.model_fields[part].annotation), None)
    return True


def test_walking_the_settings_reaches_nested_sections() -> None:
    names = {name for name, _ in _fields(Settings)}
    assert {"data_dir", "gateway.queue_timeout", "documents.max_pages"} <= names
    assert _setting_exists("AUTAN_GATEWAY__QUEUE_TIMEOUT")
    assert not _setting_exists("AUTAN_GATEWAY__NO_SUCH_THING")
    assert not _setting_exists("AUTAN_NO_SUCH_SECTION__QUEUE_TIMEOUT")


def test_every_setting_has_a_description() -> None:
    missing = [name for name, description in _fields(Settings) if not (description or "").strip()]
    assert missing == [], f"settings without a description: {missing}"


def test_every_package_is_in_the_architecture_table() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    table = text.split("## Packages", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([a-z_]+)/` \|", table, re.MULTILINE))
    packages = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    assert packages, "no package found: wrong path?"
    assert sorted(packages - listed) == [], "packages missing from docs/architecture.md"
    assert sorted(listed - packages) == [], "docs/architecture.md lists packages that are gone"


def test_every_module_the_architecture_names_exists() -> None:
    """A file named in backquotes as `package/module.py` is a file of the package (or, for
    `tests/…` and `benchmarks/…`, of the repository): moves must carry the documentation."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`([a-z_]+/[a-z_/]+\.py)`", text))
    assert len(named) > 20
    missing = sorted(
        path for path in named if not (PACKAGE / path).is_file() and not (ROOT / path).is_file()
    )
    assert missing == [], f"docs/architecture.md names modules that do not exist: {missing}"


def test_every_variable_in_the_readme_is_a_setting() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = re.findall(r"^\| `(AUTAN_[A-Z0-9_]+)` \|", readme, re.MULTILINE)
    assert len(table) >= 5, "the configuration table was not found"
    mentioned = set(re.findall(r"\bAUTAN_[A-Z0-9_]*[A-Z0-9]", readme)) - NOT_SETTINGS
    unknown = sorted(name for name in mentioned | set(table) if not _setting_exists(name))
    assert unknown == [], f"README variables that are not settings: {unknown}"


def test_nested_settings_reach_the_models_walked() -> None:
    # `_models_in` must see through `X | None` and generics, or a section would go unchecked.
    assert list(_models_in(Settings | None)) == [Settings]
    assert list(_models_in(list[Settings])) == [Settings]
    assert list(_models_in(types.NoneType)) == []
