"""One language per message: every error a user may read comes out whole in French.

Each domain error class is built with sample values and rendered in French the way the
pages render it (`web.errors.fill_in`); no English word may remain, and counted words take
the French singular for 1 and the plural for 2. Messages raised inline (`InvalidRequest(
"...")`) are found in the source and must be in the catalogue, never built by an f-string.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

import autan
from autan.budgets.errors import BudgetExceeded
from autan.core.errors import AutanError, Plural
from autan.documents.extraction.errors import FileTooLarge, TooManyPages, UnsupportedFormat
from autan.quotas.errors import QuotaExceeded
from autan.web.errors import fill_in
from autan.web.templating import Templates

SRC = Path(autan.__file__).parent
# Words that give an English fragment away; none is also a French word. Names quoted in a
# message (`file`, « file ») are left out of the search.
QUOTED = re.compile(r"`[^`]*`|«[^»]*»")
ENGLISH = re.compile(
    r"\b(the|it|is|are|of|to|you|your|please|file|unpacks|MB|KB|and|not|was|has|have|"
    r"seconds?|hours?|requests?|tokens?|slides?|sheets?|try|again|with|this|could)\b"
)
# Values of the samples, by parameter name (else by type); catalogued words where a
# class expects words.
SAMPLES: dict[str, Any] = {
    "what": "a RAR archive",
    "named_as": "a Word document",
    "content": "a ZIP archive",
    "extension": "docx",
    "unit": "slides",
    "visibility": "private",
    "expected": "embedding",
    "email": "agent@exemple.fr",
    "model": "petit",
    "detail": "",
}


def _modules() -> None:
    for info in pkgutil.walk_packages([str(SRC)], "autan."):
        if ".migrations" in info.name or info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)


def _subclasses(cls: type[AutanError]) -> list[type[AutanError]]:
    found: list[type[AutanError]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def _sample(parameter: inspect.Parameter) -> Any:
    if parameter.name in SAMPLES:
        return SAMPLES[parameter.name]
    if parameter.default is not inspect.Parameter.empty:
        return parameter.default
    annotation = str(parameter.annotation)
    if "int" in annotation or "float" in annotation:
        return 2
    return "petit"


def _instances() -> list[AutanError]:
    _modules()
    errors: list[AutanError] = []
    for cls in sorted(set(_subclasses(AutanError)), key=lambda c: c.__qualname__):
        if cls.__module__.startswith("tests"):
            continue
        signature = inspect.signature(cls.__init__)
        parameters = list(signature.parameters.values())[1:]
        if any(p.kind is p.VAR_KEYWORD for p in parameters) or (
            parameters and parameters[0].name == "message"
        ):
            continue  # a base class: its messages come from its callers (see below)
        args = {p.name: _sample(p) for p in parameters if p.kind is not p.VAR_POSITIONAL}
        errors.append(cls(**args))
    return errors


@pytest.fixture(scope="module")
def templates() -> Templates:
    return Templates()


def test_every_domain_error_reads_in_french_alone(templates: Templates) -> None:
    errors = _instances()
    assert len(errors) > 40
    mixed = {}
    for error in errors:
        french = QUOTED.sub("", fill_in(templates, "fr", error.template, error.values))
        if ENGLISH.search(french):
            mixed[type(error).__qualname__] = french
    assert mixed == {}


@pytest.mark.parametrize(
    "error",
    [
        FileTooLarge.unpacked(1024, 200),
        FileTooLarge.zip_bomb(),
        FileTooLarge.image(20_000, 20_000),
        FileTooLarge.image(),
        UnsupportedFormat(extension="bin"),
        UnsupportedFormat(),
        TooManyPages(3, 2, "sheets"),
        QuotaExceeded.requests_per_minute(10, 5_401),
        QuotaExceeded.tokens_per_day(100_000, 7_200),
        BudgetExceeded.monthly(1_000_000, date(2027, 1, 1), 7_200),
    ],
)
def test_reasons_built_by_hand_read_in_french_alone(templates: Templates, error: Any) -> None:
    french = fill_in(templates, "fr", error.template, error.values)
    assert not ENGLISH.search(french), french
    assert french != error.message


def test_the_zip_bomb_reason_of_the_issue(templates: Templates) -> None:
    error = FileTooLarge.unpacked(1024, 200)
    assert error.message == (
        "The file is too large to be read: it unpacks to 1,024 MB, more than 200 MB."
    )
    assert fill_in(templates, "fr", error.template, error.values) == (
        "Le fichier est trop volumineux pour être lu : une fois décompressé, il occupe "
        "1\u202f024 Mo, plus que la limite de 200 Mo."  # digits grouped the French way
    )


@pytest.mark.parametrize(
    ("error", "one", "two"),
    [
        (
            lambda n: QuotaExceeded.requests_per_minute(n, n),
            ["limite de 1 requête par minute", "dans 1 seconde."],
            ["limite de 2 requêtes par minute", "dans 2 secondes."],
        ),
        (
            lambda n: QuotaExceeded.tokens_per_day(n, 3600 * n),
            ["quota quotidien de 1 jeton.", "dans 60 minutes."],
            ["quota quotidien de 2 jetons.", "dans 2 heures."],
        ),
        (
            lambda n: QuotaExceeded.requests_per_minute(5, 7200 + 60 * n),
            ["dans 2 heures 1 minute."],
            ["dans 2 heures 2 minutes."],
        ),
        (
            lambda n: QuotaExceeded.requests_per_minute(5, 3600 * n + 1860),
            ["dans 1 heure 31 minutes."],
            ["dans 2 heures 31 minutes."],
        ),
        (lambda n: TooManyPages(n, 1), ["1 page"], ["2 pages"]),
        (lambda n: TooManyPages(n, 1, "slides"), ["1 diapositive"], ["2 diapositives"]),
        (lambda n: TooManyPages(n, 1, "sheets"), ["1 feuille"], ["2 feuilles"]),
    ],
)
def test_one_and_two_take_the_singular_and_the_plural(
    templates: Templates, error: Any, one: list[str], two: list[str]
) -> None:
    for count, expected in ((1, one), (2, two)):
        made = error(count)
        french = fill_in(templates, "fr", made.template, made.values)
        assert all(part in french for part in expected), french
        assert not ENGLISH.search(french), french
    # English keeps its own rule.
    assert "1 second." in QuotaExceeded.requests_per_minute(1, 1).message
    assert "2 requests" in QuotaExceeded.requests_per_minute(2, 2).message


def test_plurals_come_back_from_a_json_column(templates: Templates) -> None:
    # A failed document keeps its reason's values as JSON: a Plural reads back as a list.
    stored = {"pages": list(Plural("{count} slide", "{count} slides", 1)), "limit": 1}
    assert fill_in(templates, "fr", TooManyPages(1, 1, "slides").template, stored) == (
        "Le document compte 1 diapositive ; la limite est de 1."
    )


def _takes_a_message(cls: type[AutanError]) -> bool:
    parameters = list(inspect.signature(cls.__init__).parameters)[1:]
    return bool(parameters) and parameters[0] in {"message", "template"}


def _raised_messages() -> list[tuple[str, int, ast.expr]]:
    """Messages given to error classes in the source: (file, line, node).

    Only classes whose first parameter is the message: others take a detail for the logs
    (an OIDC failure's reason) and word their message themselves."""
    classes: list[type[AutanError]] = [AutanError, *_subclasses(AutanError)]
    names = {cls.__name__ for cls in classes if _takes_a_message(cls)}
    found = []
    for path in SRC.rglob("*.py"):
        if "migrations" in path.parts or "devtools" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name in names:
                found.append((str(path.relative_to(SRC)), node.lineno, node.args[0]))
    return found


def test_messages_raised_inline_are_catalogued_whole(templates: Templates) -> None:
    _modules()
    raised = _raised_messages()
    assert len(raised) > 20
    built = [f"{file}:{line}" for file, line, node in raised if isinstance(node, ast.JoinedStr)]
    assert built == [], "messages built with f-strings cannot be translated"
    missing = [
        f"{file}:{line}: {node.value}"
        for file, line, node in raised
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and " " in node.value
        and templates.gettext("fr", node.value) == node.value
    ]
    assert missing == []


def test_no_hand_made_plural_is_left() -> None:
    hand_made = [
        f"{path.relative_to(SRC)}"
        for path in SRC.rglob("*")
        if path.suffix in {".py", ".html", ".js", ".po"}
        and "vendor" not in path.parts
        and re.search(r"\w\(s\)", path.read_text(encoding="utf-8"))
        # Not read by users: a docstring, an operator's log line, "http(s)".
        and path.name not in {"summaries.py", "supervisor.py", "oidc_settings.py"}
    ]
    assert hand_made == []
