"""Deny by default: every route needs an API key except an explicit public list."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from autan.access import PUBLIC_PATHS
from autan.llm.config import ModelConfig, ModelsConfig, ReplicaConfig
from tests.conftest import RunningAutan, make_settings, serve_autan

# Routes of FastAPI's own documentation, public by design.
DOCS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


@pytest.fixture
async def autan(tmp_path: Path, sqlite_databases: object) -> AsyncIterator[RunningAutan]:
    # No replica needs to answer: nothing gets past authentication.
    models = ModelsConfig(
        models=[ModelConfig(id="m", replicas=[ReplicaConfig(url="http://127.0.0.1:9/v1")])]
    )
    database_url = sqlite_databases.new()  # type: ignore[attr-defined]
    async with serve_autan(make_settings(tmp_path, database_url, models)) as running:
        yield running


def all_routes(running: RunningAutan) -> list[RouteContext]:
    """Every route, including those of included routers (FastAPI resolves them lazily)."""
    return list(iter_route_contexts(running.app.routes))  # type: ignore[attr-defined]


def is_page(path: str) -> bool:
    """A page of the web UI, as opposed to the API (which answers 401 in JSON)."""
    return not path.startswith(("/v1", "/api", "/auth/", "/health", "/metrics"))


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "some-id", path)


async def test_every_route_denies_by_default(autan: RunningAutan) -> None:
    routes = [r for r in all_routes(autan) if isinstance(r.route, APIRoute)]
    assert len(routes) >= 8
    checked = 0
    async with httpx.AsyncClient(base_url=autan.base_url) as anonymous:
        for route in routes:
            assert route.path is not None and route.methods is not None
            for method in sorted(route.methods - {"HEAD"}):
                response = await anonymous.request(method, concrete(route.path), json={})
                if route.path in PUBLIC_PATHS:
                    assert response.status_code != 401, route.path
                elif is_page(route.path):
                    # A page of the web UI sends an anonymous visitor to the sign-in page.
                    assert response.status_code == 303, f"{method} {route.path} answered"
                    assert response.headers["location"] == "/login"
                else:
                    assert response.status_code == 401, (
                        f"{method} {route.path} answered anonymously"
                    )
                    assert response.json()["error"]["type"] == "authentication_error"
                checked += 1
    assert checked >= len(routes)


async def test_the_public_list_is_only_operations() -> None:
    assert {"/health", "/metrics", "/auth/login"} <= PUBLIC_PATHS
    pages = {"/login", "/auth/welcome", "/lang"}  # sign-in pages and the language switch
    assert all(
        path.startswith(("/health", "/metrics", "/auth/")) or path in pages for path in PUBLIC_PATHS
    )


async def test_unknown_paths_do_not_leak(autan: RunningAutan) -> None:
    async with httpx.AsyncClient(base_url=autan.base_url) as anonymous:
        response = await anonymous.get("/v1/admin/secrets")
    assert response.status_code in (401, 404)
    assert "error" in response.json()


async def test_docs_are_the_only_other_open_pages(autan: RunningAutan) -> None:
    other = {r.path for r in all_routes(autan) if not isinstance(r.route, APIRoute)}
    assert other <= DOCS | {"/static"}  # the web UI's CSS and scripts


async def test_metrics_count_requests_per_model(autan: RunningAutan) -> None:
    async with autan.client() as client:
        await client.post(
            "/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
        )
        metrics = (await client.get("/metrics")).text
    assert 'autan_replica_in_flight{model="m",replica="127.0.0.1:9#0"} 0.0' in metrics
    assert 'autan_requests_total{endpoint="chat",model="m",status="' in metrics
    assert "autan_time_to_first_token_seconds" in metrics
