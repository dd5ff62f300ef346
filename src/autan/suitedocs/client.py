"""A client of Docs' published REST API (suitenumerique/docs), with the person's own token.

The calls and shapes are Docs' own (`core/api/viewsets.py` of suitenumerique/docs):

- `POST documents/` (multipart, field `file`, a `.md` file): Docs converts the Markdown
  to its BlockNote/Yjs content and answers 201 with the document (`id`, `title`, ...);
  the Docs server must allow imports (`CONVERSION_UPLOAD_ENABLED`);
- `GET documents/?page=&page_size=&ordering=` : `{count, next, previous, results: [...]}`;
- `GET documents/{id}/` : the document's fields, `updated_at` among them;
- `GET documents/{id}/formatted-content/?content_format=markdown` :
  `{id, title, content, created_at, updated_at}`.

Under `/external_api/v1.0/` Docs authenticates the Suite's OIDC access tokens
(`Authorization: Bearer`); `formatted_content` must be among the actions its
`EXTERNAL_API` setting opens there (list, retrieve and create are by default).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import aiohttp

from autan.suitedocs.errors import (
    DocsAddressInvalid,
    DocsDocumentNotFound,
    DocsForbidden,
    DocsNotConfigured,
    DocsRefused,
    DocsTokenRejected,
    DocsUnavailable,
)
from autan.suitedocs.settings import DocsSettings

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


@dataclass(frozen=True, slots=True)
class DocsDocument:
    """A Docs document as Autan needs it."""

    id: str
    title: str
    updated_at: str | None
    url: str


def document_id(address: str) -> str:
    """The document id of a Docs address (`https://docs…/docs/<id>/`) or of a bare id."""
    found = _UUID.findall(address.strip())
    if not found:
        raise DocsAddressInvalid()
    return str(found[-1]).lower()


class DocsClient:
    """Docs' API, called on behalf of one person with their bearer token."""

    def __init__(self, settings: DocsSettings) -> None:
        if not settings.url:
            raise DocsNotConfigured()
        self.settings = settings
        self.base = settings.url.rstrip("/")
        self.api = self.base + "/" + settings.api_path.strip("/") + "/"

    def page_url(self, docs_id: str) -> str:
        """Where a person opens the document in Docs."""
        return f"{self.base}/docs/{docs_id}/"

    def _document(self, data: dict[str, Any]) -> DocsDocument:
        docs_id = str(data.get("id") or "")
        return DocsDocument(
            id=docs_id,
            title=str(data.get("title") or ""),
            updated_at=str(data["updated_at"]) if data.get("updated_at") else None,
            url=self.page_url(docs_id),
        )

    async def _call(self, method: str, path: str, token: str, **kwargs: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as http,
                http.request(method, self.api + path, headers=headers, **kwargs) as response,
            ):
                status = response.status
                body = await response.json(content_type=None) if status < 300 else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise DocsUnavailable() from exc
        if status == 401:
            raise DocsTokenRejected()
        if status == 403:
            raise DocsForbidden()
        if status == 404:
            raise DocsDocumentNotFound()
        if status >= 500 or status == 429:
            raise DocsUnavailable()
        if status >= 300 or not isinstance(body, dict):
            raise DocsRefused()
        return body

    async def create_from_markdown(self, token: str, title: str, markdown: str) -> DocsDocument:
        """A new Docs document, owned by the person, made from Markdown."""
        # Not percent-encoded: Docs titles the document with the file name as sent.
        form = aiohttp.FormData(quote_fields=False)
        name = re.sub(r"[\\/:*?\"<>|\n\r]+", " ", title).strip()[:200] or "Autan"
        form.add_field(
            "file", markdown.encode(), filename=f"{name}.md", content_type="text/markdown"
        )
        return self._document(await self._call("POST", "documents/", token, data=form))

    async def list_documents(self, token: str, page_size: int = 50) -> list[DocsDocument]:
        """The person's latest documents (Docs' first page, newest change first)."""
        params = {"page": "1", "page_size": str(page_size), "ordering": "-updated_at"}
        data = await self._call("GET", "documents/", token, params=params)
        return [
            self._document(item) for item in data.get("results") or [] if isinstance(item, dict)
        ]

    async def retrieve(self, token: str, docs_id: str) -> DocsDocument:
        """The document's title and last change, if the person may read it."""
        return self._document(await self._call("GET", f"documents/{docs_id}/", token))

    async def markdown(self, token: str, docs_id: str) -> tuple[DocsDocument, str]:
        """The document and its content as Markdown."""
        data = await self._call(
            "GET",
            f"documents/{docs_id}/formatted-content/",
            token,
            params={"content_format": "markdown"},
        )
        content = data.get("content")
        return self._document(data), content if isinstance(content, str) else ""
