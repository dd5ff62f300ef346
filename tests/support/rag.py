"""Helpers for the documents and RAG tests: more users with keys, waiting for ingestion."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from autan.accounts import service as accounts
from autan.accounts.models import Role
from autan.core.db import create_engine, session_factory
from tests.support.loopback import TLS

FICHE_MD = """# Carte d'identité

## Délais de fabrication

Le délai de fabrication d'une carte nationale d'identité dépend de la mairie et de la
période de l'année. Il faut compter en général entre deux et six semaines.

## Coût

La carte d'identité est gratuite lors d'une première demande ou d'un renouvellement.
En cas de perte ou de vol, un timbre fiscal de 25 euros est demandé.
"""

OTHER_MD = """# Permis de conduire

## Échange d'un permis étranger

Un permis de conduire délivré par un pays étranger peut être échangé contre un permis
français, sous conditions de résidence, dans l'année qui suit l'installation en France.
"""


async def add_user(
    database_url: str, email: str, role: Role, org: str = "default", password: str | None = None
) -> str:
    """Create a user in an organisation and return a new API key of theirs."""
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            await accounts.create_user(session, email, role=role, org_slug=org, password=password)
            return (await accounts.create_api_key(session, email)).secret
    finally:
        await engine.dispose()


def client_for(base_url: str, key: str) -> httpx.AsyncClient:
    """An API client authenticated with this key."""
    return httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60, verify=TLS
    )


async def new_collection(
    client: httpx.AsyncClient, name: str = "fiches", visibility: str = "private"
) -> str:
    response = await client.post("/v1/collections", json={"name": name, "visibility": visibility})
    assert response.status_code == 201, response.text
    collection_id: str = response.json()["id"]
    return collection_id


async def upload(
    client: httpx.AsyncClient, collection: str, name: str, data: bytes
) -> httpx.Response:
    return await client.post(
        "/v1/documents", data={"collection": collection}, files={"file": (name, data)}
    )


async def wait_done(client: httpx.AsyncClient, document_id: str, timeout: float = 60) -> Any:
    """Poll a document until it is ready or failed; return its last state."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await client.get(f"/v1/documents/{document_id}")
        assert response.status_code == 200, response.text
        body = response.json()
        if body["status"] in ("ready", "failed"):
            return body
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"document still {body['status']} after {timeout} s")
        await asyncio.sleep(0.05)
