"""`autan demo seed --org SLUG`: fill an organisation with months of realistic usage."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from autan.core.console import err
from autan.core.db import create_engine, session_factory
from autan.devtools.demo import DEFAULT_MODELS, SeedPlan, SeedReport, seed
from autan.settings import Settings
from autan.usage import rollup

demo_app = typer.Typer(help="Demonstration data.", no_args_is_help=True)


async def _seed(url: str, plan: SeedPlan) -> SeedReport:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            return await seed(session, plan)
    finally:
        await engine.dispose()


@demo_app.command("seed")
def seed_command(
    org: Annotated[str, typer.Option(help="Slug of the organisation (created if missing).")],
    users: Annotated[int, typer.Option(min=1, help="People in the organisation.")] = 200,
    requests: Annotated[int, typer.Option(min=0, help="Model requests to spread.")] = 50_000,
    days: Annotated[int, typer.Option(min=1, help="Over how many days, up to today.")] = 180,
    model: Annotated[
        list[str] | None, typer.Option(help="Model names (repeatable); the first is the default.")
    ] = None,
    seed_value: Annotated[int, typer.Option("--seed", help="Random seed.")] = 12,
) -> None:
    """Seed months of usage, feedback and demo people (demo-NNNN@SLUG.demo) into an org."""
    settings = Settings()
    plan = SeedPlan(
        org_slug=org,
        users=users,
        requests=requests,
        days=days,
        models=tuple(model) if model else DEFAULT_MODELS,
        seed=seed_value,
    )
    report = asyncio.run(_seed(settings.resolved_database_url, plan))
    err.print(
        f"{org}: {report.users} people, {report.requests} requests, {report.feedback} ratings, "
        f"{report.votes} arena votes, {report.answers} questionnaire answers"
    )


async def _rebuild(url: str) -> None:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session, session.begin():
            await rollup.rebuild(session)
    finally:
        await engine.dispose()


@demo_app.command("rollup")
def rollup_command() -> None:
    """Rebuild the daily usage rollups from the usage rows (after an upgrade or a bulk load)."""
    asyncio.run(_rebuild(Settings().resolved_database_url))
    err.print("usage rollups rebuilt")
