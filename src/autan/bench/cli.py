"""`autan bench`: measure a deployment (`load`) or a model on evaluation cases (`answers`)."""

from __future__ import annotations

import asyncio
import datetime
import json
import platform
import secrets
from pathlib import Path
from typing import Annotated

import httpx
import typer
import uvloop

from autan.bench import answers as bench_answers
from autan.bench import report
from autan.bench.crowd import run_plan
from autan.bench.load import LoadPlan, markdown_table, parse_ramp, read_users_file
from autan.bench.users import create_bench_users, write_users_file
from autan.core.console import err
from autan.core.db import create_engine, session_factory
from autan.settings import Settings

bench_app = typer.Typer(help="Measure a deployment.", no_args_is_help=True)


async def _create(count: int, org: str, password: str, path: Path) -> None:
    settings = Settings()
    engine = create_engine(settings.resolved_database_url, pool=settings.database_pool)
    try:
        async with session_factory(engine)() as session:
            accounts = await create_bench_users(session, count, org, password)
    finally:
        await engine.dispose()
    write_users_file(path, accounts)


@bench_app.command("load")
def load(
    url: Annotated[
        list[str] | None,
        typer.Option(help="Base URL of an Autan process; repeat it to spread the load."),
    ] = None,
    users: Annotated[int, typer.Option(min=1, help="Simulated people at the last step.")] = 10,
    ramp: Annotated[
        str | None,
        typer.Option(help="People at each step, e.g. 50,200,500 (--users is the last)."),
    ] = None,
    steps: Annotated[
        int, typer.Option(min=1, help="Without --ramp: this many equal steps up to --users.")
    ] = 1,
    step_seconds: Annotated[float, typer.Option(min=1, help="Duration of each step.")] = 60,
    think_seconds: Annotated[
        float, typer.Option(min=0, help="Mean pause between two questions of one person.")
    ] = 5,
    attach_share: Annotated[
        float, typer.Option(min=0, max=1, help="Share of people who attach a file first.")
    ] = 0.1,
    upstream_ttft_ms: Annotated[
        float,
        typer.Option(help="The model's own first-token delay, subtracted to get Autan's part."),
    ] = 0,
    model: Annotated[str | None, typer.Option(help="Chat model (default: the first).")] = None,
    timeout: Annotated[float, typer.Option(min=1, help="Seconds before a turn is an error.")] = 60,
    users_file: Annotated[
        Path | None, typer.Option(help="'email password' lines (written by --create-users).")
    ] = None,
    create_users: Annotated[
        int | None,
        typer.Option(help="Create this many accounts in the database of AUTAN_DATABASE_URL."),
    ] = None,
    org: Annotated[str, typer.Option(help="Organisation of the created accounts.")] = "bench",
    output: Annotated[
        Path | None, typer.Option(help="Folder for load.md, load.json and load.png.")
    ] = None,
    name: Annotated[str, typer.Option(help="Base name of the files written.")] = "load",
    client_processes: Annotated[
        int, typer.Option(min=1, help="Planner processes (one reads ~30k tokens/s at most).")
    ] = 1,
) -> None:
    """Simulated staff on the real chat path, step by step; a table and a plot per ramp."""
    if create_users:
        users_file = users_file or (output or Path(".")) / "bench-users.txt"
        asyncio.run(_create(create_users, org, secrets.token_urlsafe(16), users_file))
        err.print(f"{create_users} accounts of organisation {org} written to {users_file}")
    if not url:
        if create_users:
            return
        err.print("[red]error:[/red] give --url (and --users-file or --create-users)")
        raise typer.Exit(2)
    if users_file is None:
        err.print("[red]error:[/red] give --users-file or --create-users")
        raise typer.Exit(2)
    try:
        plan = LoadPlan(
            urls=tuple(u.rstrip("/") for u in url),
            steps=parse_ramp(users, ramp, steps),
            step_seconds=step_seconds,
            think_seconds=think_seconds,
            attach_share=attach_share,
            timeout=timeout,
            upstream_ttft_ms=upstream_ttft_ms,
            model=model,
            client_processes=client_processes,
        )
        accounts = read_users_file(users_file)
        # uvloop: the planner must stay cheaper than the servers it measures.
        rows = uvloop.run(run_plan(plan, accounts, progress=err.print))
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    typer.echo(markdown_table(rows))
    if output is not None:
        header = (
            f"# Load: {', '.join(plan.urls)}\n\n"
            f"Steps of {plan.step_seconds:g} s, think time {plan.think_seconds:g} s on "
            f"average, {plan.attach_share:.0%} of people attach a file first; TTFT added = "
            f"TTFT seen by the client - {plan.upstream_ttft_ms:g} ms of the model's own.\n"
            f"Machine: {platform.machine()}, Python {platform.python_version()}, "
            f"{datetime.date.today().isoformat()}."
        )
        written = report.write(rows, output, name, header)
        err.print(f"results written to {written} and {written.with_suffix('.png')}")


@bench_app.command("answers")
def answers(
    cases: Annotated[
        Path, typer.Option(help="Evaluation cases: the JSONL or CSV a referent exports.")
    ],
    model: Annotated[str, typer.Option(help="Chat model id, as the endpoint names it.")],
    url: Annotated[
        str, typer.Option(help="OpenAI-compatible base URL (Autan's own /v1 by default).")
    ] = "http://127.0.0.1:8000/v1",
    key: Annotated[
        str | None, typer.Option(envvar="AUTAN_API_KEY", help="API key (or AUTAN_API_KEY).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="Write every answer and its scores here (JSON).")
    ] = None,
) -> None:
    """Answer each case with a model, grounded as the chat does, and score the answers."""
    try:
        loaded = bench_answers.read_cases(cases)
    except bench_answers.CasesFileError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if not loaded:
        err.print(f"[red]error:[/red] {cases} holds no case")
        raise typer.Exit(2)
    try:
        rows = bench_answers.run(loaded, url=url, model=model, key=key)
    except httpx.HTTPError as exc:
        err.print(f"[red]error:[/red] the model could not be asked at {url}: {exc}")
        raise typer.Exit(1) from None
    figures = bench_answers.summary(rows)
    if output is not None:
        output.write_text(
            json.dumps({"model": model, "summary": figures, "rows": rows}, ensure_ascii=False),
            encoding="utf-8",
        )
    typer.echo("| figure | value |\n|---|---|")
    for name, value in figures.items():
        shown = "—" if value is None else f"{value:.2f}" if isinstance(value, float) else value
        typer.echo(f"| {name} | {shown} |")
