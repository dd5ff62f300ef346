"""Admins and referents cannot read conversations (issue 12, point 7).

A member's conversation (title, question, answer), an uploaded file (name and text) and a
file attached to the conversation all hold a unique marker; every GET route of the
application, found by walking `app.routes` (so a new route is covered without editing this
test), is called as an admin and as a referent of that organisation, with the member's ids
in the path and with the exports' query strings; the marker appears in no answer.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from autan.accounts import service as accounts
from autan.arena.models import Comparison
from autan.connectors.models import DriveConnection
from autan.documents.models import Chunk, Collection, Document, DocumentStatus
from tests.support.library import add_conversation, database, user_by_email
from tests.support.web import PEOPLE, Site, run_site

MARKER = f"MARQUEUR-{uuid.uuid4().hex}"

# The exports and views whose query strings change what they return.
QUERIES = {
    "/admin/orgs/{slug}/usage": ["", "?days=365&by=month", "?scope=platform&days=365"],
    "/admin/orgs/{slug}/usage.csv": ["", "?table=models", "?scope=platform&table=models"],
    "/admin/orgs/{slug}/audit": ["", "?action=&q=agent"],
    "/admin/orgs/{slug}/audit.csv": [""],
}


@pytest.fixture
async def site(tmp_path: Path, database_url: str) -> AsyncIterator[Site]:
    async with run_site(tmp_path, database_url) as running:
        yield running


async def _seed(site: Site) -> dict[str, list[str]]:
    """The member's marked content; the ids to put in the routes' paths."""
    async with database(site) as session:
        member = await user_by_email(session, PEOPLE["member_a"][0])
        conversation = await add_conversation(
            session,
            member,
            f"Titre {MARKER}",
            [(f"Question {MARKER}", f"Réponse {MARKER}")],
            rating=1,
        )
        collection = Collection(org_id=member.org_id, owner_id=member.id, name=f"Dossier {MARKER}")
        session.add(collection)
        await session.flush()
        # The member's drive folder: its address and user name hold the marker.
        drive = DriveConnection(
            org_id=member.org_id,
            owner_id=member.id,
            collection_id=collection.id,
            url=f"https://drive.example.org/{MARKER}/",
            username=f"agent-{MARKER}",
            secret="not-a-real-ciphertext",
        )
        session.add(drive)
        await session.flush()
        documents: list[str] = []
        chunks: list[str] = []
        for place in ({"collection_id": collection.id}, {"conversation_id": conversation.id}):
            document = Document(
                owner_id=member.id,
                org_id=member.org_id,
                name=f"note-{MARKER}.txt",
                title=f"Note {MARKER}",
                format="txt",
                size_bytes=100,
                sha256="0" * 64,
                status=DocumentStatus.READY,
                chunk_count=1,
                **place,
            )
            session.add(document)
            await session.flush()
            chunk = Chunk(
                document_id=document.id,
                collection_id=place.get("collection_id"),
                position=0,
                content=f"Contenu {MARKER}",
                lexical_content=f"contenu {MARKER.lower()}",
            )
            session.add(chunk)
            await session.flush()
            documents.append(str(document.id))
            chunks.append(str(chunk.id))
        # A blind comparison whose answers are the member's conversation (with the marker).
        comparison = Comparison(
            org_id=member.org_id,
            user_id=member.id,
            conversation_id=conversation.id,
            model_a="petit",
            model_b="grand",
        )
        session.add(comparison)
        await session.commit()
        return {
            "slug": ["agri"],
            "user_id": [str(member.id)],
            "conversation_id": [str(conversation.id)],
            "collection_id": [str(collection.id)],
            "document_id": documents,
            "chunk_id": chunks,
            "model_id": ["petit"],
            # Nothing of the member's: these must simply not fail.
            "prompt_id": [str(uuid.uuid4())],
            "code_id": [str(uuid.uuid4())],
            "assistant_id": [str(uuid.uuid4())],
            "job_id": [str(uuid.uuid4())],
            "comparison_id": [str(comparison.id)],
            "drive_id": [str(drive.id)],
            "questionnaire_id": [str(uuid.uuid4())],
            "token": ["not-a-token"],
        }


def _urls(site: Site, ids: dict[str, list[str]]) -> list[str]:
    """Every GET route of the application with the member's ids (and export variants)."""
    urls: list[str] = []
    routes = iter_route_contexts(site.autan.app.routes)  # type: ignore[attr-defined]
    for context in routes:
        route, template = context.route, context.path or ""
        if not isinstance(route, APIRoute) or "GET" not in (route.methods or set()):
            continue
        names = re.findall(r"\{([^}:]+)[^}]*\}", template)
        unknown = set(names) - ids.keys()
        assert not unknown, f"{template}: give this test an id for {unknown}"
        paths = [template]
        for name in names:
            pattern = re.compile(r"\{" + name + r"[^}]*\}")
            paths = [pattern.sub(value, p) for p in paths for value in ids[name]]
        for query in QUERIES.get(template, [""]):
            urls.extend(path + query for path in paths)
    return urls


async def test_no_admin_or_referent_route_shows_a_member_s_content(site: Site) -> None:
    ids = await _seed(site)
    urls = _urls(site, ids)
    assert len(urls) > 60
    for who in ("admin", "ref_a"):
        async with database(site) as session:
            key = (await accounts.create_api_key(session, PEOPLE[who][0])).secret
        async with site.signed_in(who) as browser:
            browser.headers["Authorization"] = f"Bearer {key}"
            for url in urls:
                response = await browser.get(url)
                # 503 is fine (the test models do not answer), a crash is not.
                assert response.status_code != 500, (who, url)
                seen = response.text + " ".join(response.headers.values())
                assert MARKER not in seen, f"{who} read the member's content at {url}"
    # The seeded content is there to be found: its owner reads it.
    async with site.signed_in("member_a") as owner:
        page = await owner.get(f"/c/{ids['conversation_id'][0]}")
        assert MARKER in page.text
