"""`POST /v1/ocr` in Mistral OCR's shape (which Albert's OCR route follows), on Autan's own
extraction: PDF text layers, Tesseract for scans and images, and every other format the
documents feature reads.

In: `{"model"?, "document": {"type": "document_url", "document_url": "data:...;base64,..."}
| {"type": "image_url", "image_url": "data:image/png;base64,..."}, "pages"?: [0, 2],
"include_image_base64"?: false}`. Out: `{"pages": [{"index", "markdown", "images",
"dimensions"}], "model", "usage_info": {"pages_processed", "doc_size_bytes"}}`.

Only data URIs are read: fetching a remote URL from the server would let any caller make it
reach addresses of its network, so a remote URL is refused in plain words.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from autan.core.errors import InvalidRequest
from autan.documents.errors import FileTooLarge
from autan.documents.extraction import (
    ExtractedDocument,
    ExtractionLimits,
    detect_format,
    extract,
)
from autan.documents.extraction.dispatch import IMAGE_FORMATS

OCR_MODEL = "autan-ocr"
_DATA_URI = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[\w-]+=[^;,]*)*;base64,", re.I)
_EXTENSIONS = {
    "application/pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/jpg": "jpg",
    "image/tiff": "tiff",
    "text/plain": "txt",
    "text/markdown": "md",
    "text/html": "html",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.oasis.opendocument.text": "odt",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DocumentUrl(_Strict):
    type: Literal["document_url"] = "document_url"
    document_url: str = Field(min_length=1)
    document_name: str | None = Field(None, max_length=255)


class ImageUrl(_Strict):
    type: Literal["image_url"] = "image_url"
    image_url: str = Field(min_length=1)


class OcrIn(BaseModel):
    """Mistral OCR's request; unknown fields are accepted (clients send provider extras)."""

    model: str | None = Field(None, max_length=200)
    document: DocumentUrl | ImageUrl = Field(discriminator="type")
    pages: list[StrictInt] | None = Field(None, max_length=2000)
    include_image_base64: bool | None = None


def decode_data_uri(uri: str, max_bytes: int) -> tuple[bytes, str]:
    """The bytes of a base64 data URI and a file name for their type (`InvalidRequest` if not)."""
    match = _DATA_URI.match(uri[:300])
    if match is None:
        if re.match(r"^https?://", uri, re.I):
            raise InvalidRequest(
                "This server does not fetch documents from remote addresses: send the file "
                "itself as a data URI (data:application/pdf;base64,...).",
                param="document",
                code="remote_url_refused",
            )
        raise InvalidRequest(
            "The document must be a base64 data URI, such as data:application/pdf;base64,....",
            param="document",
        )
    payload = uri[match.end() :]
    if len(payload) > (max_bytes + 2) // 3 * 4 + 4:
        raise FileTooLarge(max_bytes)  # refused before decoding
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(
            "The document's data URI is not valid base64.", param="document"
        ) from None
    if not data:
        raise InvalidRequest("The document is empty.", param="document")
    mime = (match.group("mime") or "application/octet-stream").lower()
    return data, f"document.{_EXTENSIONS.get(mime, 'bin')}"


def _markdown(document: ExtractedDocument) -> dict[int, str]:
    """Markdown of each page (0-based), headings as `#` lines, tables as they were read."""
    pages: dict[int, list[str]] = {}
    for block in document.blocks:
        index = (block.page or 1) - 1
        text = block.text.strip()
        if block.kind == "heading":
            text = f"{'#' * min(max(len(block.headings), 1), 6)} {text}"
        pages.setdefault(index, []).append(text)
    return {index: "\n\n".join(parts) for index, parts in pages.items()}


async def ocr(body: OcrIn, limits: ExtractionLimits, max_bytes: int) -> dict[str, Any]:
    """Read a document sent as a data URI, page by page, into Markdown."""
    uri = (
        body.document.document_url
        if isinstance(body.document, DocumentUrl)
        else body.document.image_url
    )
    data, filename = decode_data_uri(uri, max_bytes)
    if isinstance(body.document, ImageUrl) and detect_format(data, filename) not in IMAGE_FORMATS:
        raise InvalidRequest(
            "The image_url does not hold an image (PNG, JPEG or TIFF).", param="document"
        )
    document = await asyncio.to_thread(extract, data, filename, limits)
    markdown = _markdown(document)
    count = max(document.pages, 1)
    wanted = list(dict.fromkeys(body.pages)) if body.pages is not None else list(range(count))
    if any(not 0 <= index < count for index in wanted):
        raise InvalidRequest(
            "`pages` are counted from 0 and this document has {count} pages.",
            param="pages",
            values={"count": count},
        )
    return {
        "pages": [
            {
                "index": index,
                "markdown": markdown.get(index, ""),
                "images": [],
                "dimensions": None,
            }
            for index in wanted
        ],
        "model": body.model or OCR_MODEL,
        "document_annotation": None,
        "usage_info": {"pages_processed": len(wanted), "doc_size_bytes": len(data)},
    }
