"""The answer benchmark's figures of the packaged models, shipped with the code.

`model_figures.json` holds, per model id, what `benchmarks/answers` measured (test split):
share of answers containing the expected answer, abstention, French, decoding speed. The
models page shows them beside each model a person may use; a model without figures (a
remote one, a file added with `autan models add`) shows its description only.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def figures() -> dict[str, dict[str, Any]]:
    """Benchmark figures by model id (read once from the package)."""
    text = resources.files("autan.chat").joinpath("model_figures.json").read_text("utf-8")
    data: dict[str, dict[str, Any]] = json.loads(text)["models"]
    return data


def figures_of(model_id: str) -> dict[str, Any] | None:
    """The figures measured for this model, if any."""
    return figures().get(model_id)
