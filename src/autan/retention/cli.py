"""`autan retention purge`: apply every organisation's retention rule now."""

from __future__ import annotations

import asyncio

import typer

from autan.core.console import err
from autan.core.db import create_engine, session_factory
from autan.documents.storage import FileStore
from autan.retention.service import Purged, purge
from autan.settings import Settings

retention_app = typer.Typer(
    help="Retention of conversations, files and usage.", no_args_is_help=True
)


async def _purge(settings: Settings) -> Purged:
    engine = create_engine(settings.resolved_database_url)
    try:
        return await purge(session_factory(engine), FileStore(settings.data_dir / "files"))
    finally:
        await engine.dispose()


@retention_app.command("purge")
def purge_command() -> None:
    """Delete what each organisation's rule says is too old (rows and files); print counts."""
    done = asyncio.run(_purge(Settings()))
    typer.echo(
        f"conversations={done.conversations} documents={done.documents} "
        f"usage_rows={done.usage_rows} translations={done.translations} "
        f"research_runs={done.research_runs}"
    )
    err.print(f"retention purge: organisations with a rule: {len(done.by_org)}")
