"""A Docs server on loopback speaking the REST API of La Suite numérique's Docs.

The routes, fields and statuses are those of suitenumerique/docs (`core/api/viewsets.py`,
`core/api/serializers.py`), under `/external_api/v1.0/` where Docs authenticates OIDC
bearer tokens (resource server):

- `POST documents/` multipart with `file` (`.md` or `.docx`; 400 otherwise): the document
  is created from the file, titled with the file's name, the caller its owner (201);
- `GET documents/?page=&page_size=&ordering=`: `{count, next, previous, results}`;
- `GET documents/{id}/`: the document (403 without access, 404 when deleted);
- `GET documents/{id}/formatted-content/?content_format=markdown`:
  `{id, title, content, created_at, updated_at}`.

401 for an unknown or revoked token. Stores Markdown instead of Yjs (Docs converts
through its y-provider; what comes back as Markdown is what went in). `down` answers 502.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import ClientSession, web

API = "/external_api/v1.0/"


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class DocsDoc:
    id: str
    title: str
    content: str
    owner: str
    readers: set[str]
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    deleted: bool = False

    def serialized(self, user: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "abilities": {"retrieve": True, "update": user == self.owner},
            "ancestors_link_reach": None,
            "ancestors_link_role": None,
            "computed_link_reach": "restricted",
            "computed_link_role": None,
            "created_at": self.created_at,
            "creator": self.owner,
            "deleted_at": None,
            "depth": 1,
            "excerpt": self.content[:100],
            "is_favorite": False,
            "link_role": "reader",
            "link_reach": "restricted",
            "nb_accesses_ancestors": len(self.readers),
            "nb_accesses_direct": len(self.readers),
            "numchild": 0,
            "path": "0000001",
            "title": self.title,
            "updated_at": self.updated_at,
            "user_role": "owner" if user == self.owner else "reader",
        }


@dataclass
class FakeDocs:
    """Where it listens, its users (token → user) and documents, and the calls it got."""

    url: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    documents: dict[str, DocsDoc] = field(default_factory=dict)
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, user
    bearers: set[str] = field(default_factory=set)  # the tokens it was sent
    uploads: list[tuple[str, str]] = field(default_factory=list)  # file name, content type
    down: bool = False
    # Docs as an OIDC resource server: a token it does not know is checked at the
    # provider (here its userinfo endpoint), and the person is the token's subject.
    userinfo_url: str | None = None

    def add(self, owner: str, title: str, content: str, *readers: str) -> DocsDoc:
        doc = DocsDoc(str(uuid.uuid4()), title, content, owner, {owner, *readers})
        self.documents[doc.id] = doc
        return doc

    def edit(self, doc_id: str, content: str) -> None:
        doc = self.documents[doc_id]
        doc.content, doc.updated_at = content, _now()


async def _user(state: FakeDocs, request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    user = state.tokens.get(token)
    if user is None and token and state.userinfo_url:
        async with (
            ClientSession() as http,
            http.get(state.userinfo_url, headers={"Authorization": f"Bearer {token}"}) as answer,
        ):
            if answer.status == 200:
                user = str((await answer.json())["sub"])
    if user is None:
        raise web.HTTPUnauthorized(
            text='{"detail":"Authentication credentials were not provided."}',
            content_type="application/json",
        )
    return user


def _readable(state: FakeDocs, request: web.Request, user: str) -> DocsDoc:
    doc = state.documents.get(request.match_info["doc_id"])
    if doc is None or doc.deleted:
        raise web.HTTPNotFound(text='{"detail":"Not found."}', content_type="application/json")
    if user not in doc.readers:
        raise web.HTTPForbidden(
            text='{"detail":"You do not have permission to perform this action."}',
            content_type="application/json",
        )
    return doc


@contextlib.asynccontextmanager
async def fake_docs() -> AsyncIterator[FakeDocs]:
    """Serve Docs on a free loopback port; `url` is the site's address (no API path)."""
    state = FakeDocs()

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        if state.down:
            return web.Response(status=502, text="Bad Gateway")
        bearer = request.headers.get("Authorization", "")[7:]
        state.bearers.add(bearer)
        user = state.tokens.get(bearer, "")
        state.calls.append((request.method, request.path, user))
        response: web.StreamResponse = await handler(request)
        return response

    async def create(request: web.Request) -> web.Response:
        user = await _user(state, request)
        form = await request.post()
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            return web.json_response({"title": ["This field is required."]}, status=400)
        name = upload.filename
        if not name.lower().endswith((".md", ".docx")):
            return web.json_response({"file": ["File extension is not allowed."]}, status=400)
        state.uploads.append((name, upload.content_type))
        content = upload.file.read().decode()
        doc = state.add(user, name, content)
        return web.json_response(doc.serialized(user), status=201)

    async def listing(request: web.Request) -> web.Response:
        user = await _user(state, request)
        page = int(request.query.get("page", "1"))
        size = min(int(request.query.get("page_size", "20")), 200)
        mine = [d for d in state.documents.values() if user in d.readers and not d.deleted]
        if request.query.get("ordering") == "-updated_at":
            mine.sort(key=lambda d: d.updated_at, reverse=True)
        chunk = mine[(page - 1) * size : page * size]
        more = page * size < len(mine)
        return web.json_response(
            {
                "count": len(mine),
                "next": f"{state.url}{API}documents/?page={page + 1}" if more else None,
                "previous": None if page == 1 else f"{state.url}{API}documents/?page={page - 1}",
                "results": [d.serialized(user) for d in chunk],
            }
        )

    async def retrieve(request: web.Request) -> web.Response:
        user = await _user(state, request)
        return web.json_response(_readable(state, request, user).serialized(user))

    async def formatted(request: web.Request) -> web.Response:
        user = await _user(state, request)
        doc = _readable(state, request, user)
        if request.query.get("content_format", "json") not in ("json", "markdown", "html"):
            return web.json_response(
                ["Invalid format. Must be one of: json, markdown, html"], status=400
            )
        return web.json_response(
            {
                "id": doc.id,
                "title": doc.title,
                "content": doc.content,
                "created_at": doc.created_at,
                "updated_at": doc.updated_at,
            }
        )

    app = web.Application(middlewares=[record])
    app.router.add_post(f"{API}documents/", create)
    app.router.add_get(f"{API}documents/", listing)
    app.router.add_get(API + "documents/{doc_id}/", retrieve)
    app.router.add_get(API + "documents/{doc_id}/formatted-content/", formatted)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    state.url = f"http://{host}:{port}"
    try:
        yield state
    finally:
        await runner.cleanup()
