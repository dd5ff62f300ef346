"""`autan models ...`: the embedded server's chat model files (an entry point: reads `Settings`)."""

from __future__ import annotations

from typing import Annotated

import typer

from autan.core.console import err
from autan.llm.embedded.adding import add_model
from autan.llm.embedded.errors import EmbeddedModelError
from autan.llm.embedded.weights import CATALOGUE, registry
from autan.settings import Settings

models_app = typer.Typer(help="Manage the embedded chat models.", no_args_is_help=True)


@models_app.command("add")
def models_add(
    source: Annotated[str, typer.Argument(help="A GGUF file path or an HTTP or HTTPS URL.")],
    sha256: Annotated[str, typer.Option(help="The file's SHA-256, checked before use.")],
    name: Annotated[
        str | None, typer.Option(help="Name to select it (AUTAN_EMBEDDED__CHAT_MODEL).")
    ] = None,
) -> None:
    """Register a GGUF file for the embedded server, verified against its SHA-256."""
    folder = Settings().ensure_data_dir() / "models"
    try:
        added = add_model(source, sha256, folder, name)
    except EmbeddedModelError as exc:
        err.print(f"[red]refused:[/red] {exc}")
        raise typer.Exit(1) from exc
    err.print(
        f"model {added.name} added ({added.file}); serve it with "
        f"AUTAN_EMBEDDED__CHAT_MODEL={added.name}"
    )


@models_app.command("list")
def models_list() -> None:
    """List the packaged and added embedded chat models."""
    folder = Settings().data_dir / "models"
    for model in CATALOGUE.values():
        typer.echo(f"{model.name}\tpackaged\t{model.licence}")
    for added in registry(folder).values():
        typer.echo(f"{added.name}\tadded {added.added}\t{added.source}")
