"""Schemathesis over /openapi.json: no operation answers 5xx, and every answer is declared.

The app runs in process (schemathesis' ASGI transport, which also runs its lifespan) on
SQLite, with a simulated OpenAI-compatible upstream for the chat and embedding models.
Callers: a referent's API key for `/v1` (which takes keys only); the same referent's
browser session (cookie and CSRF header) for `/api` and `/auth`, so the session and CSRF
path is exercised too (`/auth/logout*` come last in the document, after every `/api` test).
Each operation gets a bounded number of examples.

Excluded, and why:
- `/auth/oidc/*`: OIDC is not configured here; its redirects and callbacks are covered
  against a real provider in tests/test_oidc_login.py.
- `/metrics`: Prometheus text, no schema to check.
- `POST /v1/documents`: multipart uploads start background ingestion whose timing is not
  this test's business; covered by tests/documents.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from autan.accounts import service
from autan.accounts.models import Role
from autan.app import create_app
from autan.core.db import create_engine, session_factory, utcnow
from autan.llm.config import ModelConfig, ModelsConfig, ModelType, ReplicaConfig
from autan.settings import Settings
from tests.conftest import make_settings
from tests.support.database import SqliteDatabases
from tests.support.processes import start_sim

PASSWORD = "correct horse battery staple"
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
EXCLUDED_PATHS = r"^/(auth/oidc/|metrics$)"


async def _people(url: str) -> str:
    """A referent and a member of one organisation; the referent's API key."""
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        for email, role in (
            ("ref@agri.gouv.fr", Role.REFERENT),
            ("agent@agri.gouv.fr", Role.MEMBER),
        ):
            user = await service.create_user(
                session, email, role=role, org_slug="agri", password=PASSWORD
            )
            user.charter_accepted_version = 1
            user.charter_accepted_at = utcnow()
        await session.commit()
        secret = (await service.create_api_key(session, "ref@agri.gouv.fr")).secret
    await engine.dispose()
    return secret


@pytest.fixture(scope="module")
def credentials(
    sqlite_databases: SqliteDatabases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    sim = start_sim("--ttft-ms", "0", "--tokens-per-s", "0", "--tokens", "4")
    try:
        url = sqlite_databases.new()
        key = asyncio.run(_people(url))
        replicas = [ReplicaConfig(url=sim.api_url)]
        models = ModelsConfig(
            models=[
                ModelConfig(id="petit", replicas=replicas),
                ModelConfig(id="e5", type=ModelType.EMBEDDING, dimensions=384, replicas=replicas),
            ]
        )
        tmp: Path = tmp_path_factory.mktemp("schemathesis")
        app = create_app(make_settings(tmp, url, models))
        with asgi.get_client(app) as client:  # type: ignore[arg-type]
            signed_in = client.post(
                "/auth/login", json={"email": "ref@agri.gouv.fr", "password": PASSWORD}
            )
            assert signed_in.status_code == 200, signed_in.text
            callers = {
                "api": {"Authorization": f"Bearer {key}"},
                "browser": {
                    "Cookie": "; ".join(f"{k}={v}" for k, v in client.cookies.items()),
                    "X-CSRF-Token": signed_in.json()["csrf_token"],
                },
            }
        # Both callers are let in (else every case would only test the 401 answer).
        with asgi.get_client(app) as client:  # type: ignore[arg-type]
            for headers, path in ((callers["api"], "/v1/models"), (callers["browser"], "/api/me")):
                assert client.get(path, headers=headers).status_code == 200, path
            yield {"app": app, **callers}
        asgi.shutdown_lifespans()
    finally:
        sim.stop()


def _api_schema() -> schemathesis.BaseSchema:
    # The OpenAPI document does not depend on settings, and building the app does no I/O, so
    # the operations are known at collection; each call goes to the module's running app.
    # (`schemathesis.pytest.from_fixture` would defer this, but fails under pytest 9: it
    # writes `Node._nodeid`, which pytest 9 no longer has.)
    document = create_app(Settings(data_dir=Path("unused"), _env_file=None)).openapi()
    schema = schemathesis.openapi.from_dict(document)
    return schema.exclude(path_regex=EXCLUDED_PATHS).exclude(method="POST", path="/v1/documents")


schema = _api_schema()


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_operation_answers_as_documented(
    case: schemathesis.Case[Any], credentials: dict[str, Any]
) -> None:
    headers = credentials["api"] if case.path.startswith("/v1/") else credentials["browser"]
    case.call_and_validate(app=credentials["app"], headers=headers, checks=CHECKS)
