"""The `autan` command line."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from autan.accounts import codes, repository
from autan.accounts import service as accounts
from autan.accounts.models import Role
from autan.accounts.permissions import OrganisationNotFound
from autan.bench.cli import bench_app
from autan.core.console import err
from autan.core.db import create_engine, session_factory
from autan.core.errors import AutanError
from autan.core.events import build_bus
from autan.core.logging import configure as configure_logging
from autan.core.metrics import MULTIPROCESS_ENV
from autan.core.migrate import upgrade
from autan.devtools.demo_cli import demo_app
from autan.documents.cli import ingest
from autan.models_cli import models_app
from autan.retention.cli import retention_app
from autan.settings import Settings

T = TypeVar("T")

app = typer.Typer(help="Autan: a sovereign generative-AI assistant platform.", no_args_is_help=True)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
codes_app = typer.Typer(help="Manage access codes.", no_args_is_help=True)
orgs_app = typer.Typer(help="Manage organisations.", no_args_is_help=True)
app.add_typer(codes_app, name="codes")
app.add_typer(orgs_app, name="orgs")


@asynccontextmanager
async def _session(settings: Settings) -> AsyncIterator[AsyncSession]:
    engine = create_engine(settings.resolved_database_url, pool=settings.database_pool)
    factory = session_factory(engine)
    # Changes made here reach running servers over the same event bus as theirs (a disabled
    # user's sessions and keys stop working within a second).
    bus = build_bus(factory, settings.redis_url, settings.events)
    try:
        async with factory() as session:
            yield session
    finally:
        await bus.stop()  # with Redis: publishes what is still queued
        await engine.dispose()


def _missing_sqlite_file(url: str) -> str | None:
    """The path of a SQLite database file that does not exist yet, else None."""
    parsed = make_url(url)
    path = parsed.database
    if parsed.get_backend_name() != "sqlite" or not path or path == ":memory:":
        return None
    if path.startswith("file:") or Path(path).exists():
        return None
    return path


def _run(work: Callable[[], Awaitable[T]], database_url: str | None = None) -> T:
    """Run a coroutine; domain errors become a one-line message and exit code 1."""
    missing = _missing_sqlite_file(database_url) if database_url else None
    if missing is not None:
        # Said before connecting: when aiosqlite fails to open a file it stops its worker
        # thread without waiting, and that thread then reports to an event loop that
        # `asyncio.run` has already closed ("Event loop is closed" in a thread).
        err.print(
            f"[red]database error:[/red] no database at {missing}. Has `autan migrate` been run?",
            soft_wrap=True,
        )
        raise typer.Exit(1)
    try:
        return asyncio.run(work())  # type: ignore[arg-type]
    except AutanError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    except SQLAlchemyError as exc:
        # Most often a database that is not migrated yet, or not reachable.
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        err.print(f"[red]database error:[/red] {reason}. Has `autan migrate` been run?")
        raise typer.Exit(1) from None


async def _migrate(settings: Settings) -> None:
    settings.ensure_data_dir()
    engine = create_engine(settings.resolved_database_url, pool=settings.database_pool)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@app.command()
def migrate() -> None:
    """Create or update the database schema."""
    settings = Settings()
    asyncio.run(_migrate(settings))
    err.print("database is up to date")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int | None, typer.Option(help="Server processes.")] = None,
    auto_migrate: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="Update the schema first.")
    ] = True,
    with_worker: Annotated[
        bool,
        typer.Option(
            "--worker/--no-worker",
            help="Also process uploaded documents (--no-worker: leave them to `autan worker`).",
        ),
    ] = True,
) -> None:
    """Start Autan (with the embedded models unless a models file is configured)."""

    from autan.llm.config import dump_models_file
    from autan.llm.embedded.supervisor import EmbeddedModels

    settings = Settings()
    host = host or settings.host
    port = port or settings.port
    workers = workers or settings.workers
    configure_logging(settings.log_level, settings.log_json)
    if auto_migrate:
        asyncio.run(_migrate(settings))
    if not with_worker:
        # Read by each server process's own Settings (uvicorn builds the app in each).
        os.environ["AUTAN_DOCUMENTS__WORKER_IN_SERVE"] = "false"
    if workers > 1:
        os.environ[MULTIPROCESS_ENV] = str(_fresh_metrics_dir(settings))
    embedded = None
    if settings.models_file is None:
        # Started here, once, rather than in each worker's lifespan: every worker shares them.
        err.print("starting the embedded models…")
        embedded = EmbeddedModels(settings.embedded, settings.data_dir)
        models_file = settings.ensure_data_dir() / "embedded-models.yaml"
        dump_models_file(embedded.start(), models_file)
        os.environ["AUTAN_MODELS_FILE"] = str(models_file.resolve())
    err.print(f"Autan is listening on http://{host}:{port}")
    try:
        _run_uvicorn(
            uvicorn.Config(
                "autan.app:create_app",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                loop=settings.event_loop,
                http="httptools",
                access_log=False,
                log_level=settings.log_level.lower(),
                backlog=8192,
                **proxy_options(settings),
                timeout_graceful_shutdown=10,
                timeout_keep_alive=settings.keep_alive_timeout,
                # Importing Autan takes seconds on a loaded machine; uvicorn's default of 5 s
                # made workers be killed and restarted in a loop before they were ever ready.
                timeout_worker_healthcheck=60,
            )
        )
    finally:
        if embedded is not None:
            embedded.stop()


def _fresh_metrics_dir(settings: Settings) -> Path:
    """An empty folder where the server processes write their metrics (multiprocess mode).

    Emptied at each start: files left by a previous run would count its requests again.
    """
    path = settings.ensure_data_dir() / "metrics"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


@app.command("worker")
def worker_command(
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Documents processed at once (default: the settings')."),
    ] = None,
) -> None:
    """Process uploaded documents (and other background jobs), serving no HTTP.

    Any number of workers, on any number of hosts, share the queue of one database. Stops
    on SIGTERM or Ctrl-C, putting back in the queue what it could not finish.
    """
    from autan.app import run_worker

    settings = Settings()
    if concurrency is not None:
        documents = settings.documents.model_copy(update={"worker_concurrency": concurrency})
        settings = settings.model_copy(update={"documents": documents})
    configure_logging(settings.log_level, settings.log_json)

    async def work() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop)

    err.print("Autan worker starting")
    _run(work)
    err.print("Autan worker stopped")


def proxy_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's proxy options: forwarded headers believed only from the configured proxies.

    uvicorn's own default believes them from 127.0.0.1, so any local process (or a proxy on
    the same host that passes the header through unchanged) could choose the address that
    sign-in throttling and the audit log see.
    """
    trusted = settings.trusted_proxies()
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted or []}


def _run_uvicorn(config: uvicorn.Config) -> None:
    """Run uvicorn; with several workers, on a listening socket made here.

    uvicorn binds the shared socket of its workers with `proto=0`, and asyncio only sets
    TCP_NODELAY on accepted sockets whose `proto` is IPPROTO_TCP: Nagle's algorithm then
    held each response's body behind its headers until the client's delayed ACK, ~40 ms
    per request (measured: 44 ms with 2 workers against 2.6 ms with 1).
    """
    if config.workers <= 1:
        uvicorn.Server(config).run()
        return
    from uvicorn.supervisors import Multiprocess

    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((config.host, config.port))
    sock.set_inheritable(True)
    Multiprocess(config, sockets=[sock]).run()


@users_app.command("create")
def users_create(
    email: str,
    role: Annotated[Role, typer.Option(help="admin, referent or member.")] = Role.MEMBER,
    org: Annotated[str, typer.Option(help="Organisation slug (created if missing).")] = (
        accounts.DEFAULT_ORG_SLUG
    ),
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read a password from standard input.")
    ] = False,
) -> None:
    """Create a user."""
    settings = Settings()
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None

    async def work() -> str:
        async with _session(settings) as session:
            user = await accounts.create_user(
                session, email, role=role, org_slug=org, password=password
            )
            return user.email

    created = _run(work, settings.resolved_database_url)
    err.print(f"user {created} created ({role.value}, organisation {org})")


@users_app.command("list")
def users_list(
    org: Annotated[str | None, typer.Option(help="Only this organisation.")] = None,
    search: Annotated[str, typer.Option(help="Part of an email or name.")] = "",
) -> None:
    """List users: email, role, organisation, active or not."""
    settings = Settings()

    async def work() -> list[tuple[str, str, str, bool]]:
        async with _session(settings) as session:
            return await accounts.user_summaries(session, org_slug=org, search=search)

    for email, role, org_slug, active in _run(work, settings.resolved_database_url):
        typer.echo(f"{email}\t{role}\t{org_slug}\t{'active' if active else 'disabled'}")


def _update_user(email: str, *, role: Role | None = None, active: bool | None = None) -> None:
    settings = Settings()

    async def work() -> None:
        async with _session(settings) as session:
            await accounts.update_user_by_email(session, email, role=role, is_active=active)

    _run(work, settings.resolved_database_url)


@users_app.command("set-role")
def users_set_role(email: str, role: Role) -> None:
    """Change a user's role."""
    _update_user(email, role=role)
    err.print(f"{email} is now {role.value}")


@users_app.command("disable")
def users_disable(email: str) -> None:
    """Disable a user: their sessions and API keys stop working at once."""
    _update_user(email, active=False)
    err.print(f"{email} is disabled")


@users_app.command("enable")
def users_enable(email: str) -> None:
    """Enable a disabled user again."""
    _update_user(email, active=True)
    err.print(f"{email} is enabled")


@keys_app.command("create")
def keys_create(
    email: str,
    name: Annotated[str, typer.Option(help="A label to recognise the key.")] = "",
) -> None:
    """Create an API key for a user and print only its secret."""
    settings = Settings()

    async def work() -> str:
        async with _session(settings) as session:
            created = await accounts.create_api_key(session, email, name=name)
            return created.secret

    typer.echo(_run(work, settings.resolved_database_url))


@codes_app.command("create")
def codes_create(
    org: Annotated[str, typer.Option(help="Organisation slug.")],
    uses: Annotated[int | None, typer.Option(help="Uses allowed (default 1).", min=1)] = 1,
    days: Annotated[int | None, typer.Option(help="Days of validity (default 30).", min=1)] = 30,
    label: Annotated[str, typer.Option(help="What the code is for.")] = "",
    role: Annotated[Role, typer.Option(help="Role granted to who redeems it.")] = Role.MEMBER,
) -> None:
    """Create an access code for an organisation and print only the code."""
    settings = Settings()

    async def work() -> str:
        async with _session(settings) as session:
            found = await repository.org_by_slug(session, org)
            if found is None:
                raise OrganisationNotFound()
            created = await codes.create_code(
                session,
                settings.resolved_secret_key(),
                org=found,
                creator=None,
                label=label,
                max_uses=uses,
                valid_days=days,
                role=role,
            )
            return created.code

    typer.echo(_run(work, settings.resolved_database_url))


@orgs_app.command("create")
def orgs_create(
    slug: str,
    name: Annotated[str, typer.Option(help="Full name, e.g. Ministère de la Culture.")] = "",
    domain: Annotated[
        list[str] | None, typer.Option(help="Email domain admitted without a code (repeatable).")
    ] = None,
    external_id: Annotated[str | None, typer.Option(help="SIRET or other OIDC claim.")] = None,
) -> None:
    """Create an organisation."""
    settings = Settings()

    async def work() -> None:
        async with _session(settings) as session:
            await accounts.create_org(
                session, slug, name or slug, domains=domain or [], external_id=external_id
            )

    _run(work, settings.resolved_database_url)
    err.print(f"organisation {slug} created")


@orgs_app.command("list")
def orgs_list() -> None:
    """List organisations."""
    settings = Settings()

    async def work() -> list[tuple[str, str, int]]:
        async with _session(settings) as session:
            return await accounts.org_summaries(session)

    for slug, name, members in _run(work, settings.resolved_database_url):
        typer.echo(f"{slug}\t{members}\t{name}")


app.command("ingest")(ingest)
app.add_typer(bench_app, name="bench")
app.add_typer(models_app, name="models")
app.add_typer(demo_app, name="demo")
app.add_typer(retention_app, name="retention")


def main() -> None:
    """Entry point of the `autan` script."""
    app()
