"""Shared fixtures: databases on both engines, settings, a running Autan server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pgserver
import pytest
import uvicorn
from argon2 import PasswordHasher

from autan.accounts import service as accounts
from autan.accounts.models import Role
from autan.app import create_app
from autan.cli import proxy_options
from autan.core import security
from autan.core.db import create_engine, session_factory
from autan.core.logging import configure as configure_logging
from autan.llm.config import ModelsConfig, dump_models_file
from autan.settings import Settings
from tests.support.database import PostgresDatabases, SqliteDatabases
from tests.support.loopback import TLS

# Session-wide fixtures that start real processes, shared by every module that asks for them,
# and the lane marks (`slow`, `browser`, `model`, `postgresql`, `processes`) given at collection.
pytest_plugins = [
    "tests.support.embedded_fixtures",
    "tests.support.browser",
    "tests.support.lanes",
]

ENGINES = ("sqlite", "postgresql")


def isolate_settings(patch: pytest.MonkeyPatch, workdir: Path) -> None:
    """Drop the developer's `AUTAN_*` variables and `.env` from every `Settings` built in tests."""
    # AUTAN_SCREENSHOTS is not a setting: it asks the browser tests to refresh docs/screenshots.
    for name in [n for n in os.environ if n.startswith("AUTAN_") and n != "AUTAN_SCREENSHOTS"]:
        patch.delenv(name)
    # Read when each instance is built, so this reaches `Settings()` in the CLI and the app too.
    patch.setitem(Settings.model_config, "env_file", None)
    # `autan` child processes inherit the working directory and read the `.env` there; a
    # clean one also keeps the default `data_dir` ("var") out of the checkout.
    patch.chdir(workdir)


@pytest.fixture(scope="session", autouse=True)
def isolated_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Results must not depend on the shell or the `.env` of whoever runs the tests."""
    with pytest.MonkeyPatch.context() as patch:
        isolate_settings(patch, tmp_path_factory.mktemp("cwd"))
        yield


@pytest.fixture(scope="session", autouse=True)
def product_logging() -> None:
    """Log as `autan serve` does: unconfigured, structlog renders every traceback with Rich and
    each frame's variables, which is slow (seconds over the suite) and unlike production."""
    configure_logging("INFO")


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes() -> Iterator[None]:
    """argon2id at its lowest cost for the passwords the tests create.

    The tests are about who may sign in, not about how costly a stolen hash is to attack:
    at argon2-cffi's default cost (kept in production) each of the several thousand hashes
    and checks the suite makes takes about 70 ms of CPU, minutes in all. A hash carries its
    own parameters, so checking it costs what hashing it did.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            security, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        )
        yield


@pytest.fixture(scope="session")
def sqlite_databases(tmp_path_factory: pytest.TempPathFactory) -> SqliteDatabases:
    return SqliteDatabases(tmp_path_factory.mktemp("sqlite"))


@pytest.fixture(scope="session")
def postgresql_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresDatabases]:
    # pgserver ships PostgreSQL 16 with pgvector; it listens on a Unix socket in this folder.
    root = tmp_path_factory.mktemp("pg")
    server = pgserver.get_server(root, cleanup_mode="stop")  # type: ignore[attr-defined]
    try:
        yield PostgresDatabases(server, str(root))
    finally:
        server.cleanup()


@pytest.fixture(params=ENGINES)
def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh migrated database, once on SQLite and once on PostgreSQL."""
    databases = request.getfixturevalue(f"{request.param}_databases")
    url: str = databases.new()
    return url


@pytest.fixture
async def session_maker(database_url: str) -> AsyncIterator[object]:
    engine = create_engine(database_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RunningAutan:
    """An Autan app served by a real uvicorn on loopback, with a user and an API key."""

    def __init__(self, base_url: str, api_key: str, app: object, settings: Settings) -> None:
        self.base_url = base_url
        self.api_key = api_key
        self.app = app
        self.settings = settings

    def client(self, timeout: float = 30) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        return httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=timeout, verify=TLS
        )


@contextlib.asynccontextmanager
async def serve_autan(
    settings: Settings, *, email: str = "agent@example.org"
) -> AsyncIterator[RunningAutan]:
    """Run Autan with these settings on a free port until the block ends."""
    engine = create_engine(settings.resolved_database_url)
    async with session_factory(engine)() as session:
        await accounts.create_user(session, email, role=Role.MEMBER)
        key = (await accounts.create_api_key(session, email)).secret
    await engine.dispose()
    app = create_app(settings)
    port = free_port()
    # The proxy options of `autan serve`, so the tests see the addresses production sees.
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        **proxy_options(settings),
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield RunningAutan(f"http://127.0.0.1:{port}", key, app, settings)
    finally:
        server.should_exit = True
        await task


def make_settings(
    tmp_path: Path,
    database_url: str,
    models: ModelsConfig,
    quotas: dict[str, object] | None = None,
    chat: dict[str, object] | None = None,
    web: object = None,  # the `web` section; typed loosely as `gateway` values are
    research: object = None,  # the `research` section, likewise
    **gateway: object,
) -> Settings:
    """Settings for a test: its own data dir, database and models file.

    Quotas are off unless given: most tests send more than 10 requests a minute.
    """
    models_file = tmp_path / "models.yaml"
    dump_models_file(models, models_file)
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        models_file=models_file,
        gateway={"health_interval": 0.2, "usage_flush_interval": 0.05, **gateway},
        quotas=quotas if quotas is not None else {"enabled": False},
        # Short answers: the tests check how answers flow, not how long the model can write.
        chat=chat if chat is not None else {"max_answer_tokens": 48},
        web=web if web is not None else {},
        research=research if research is not None else {},
    )
