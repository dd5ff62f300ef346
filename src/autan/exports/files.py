"""An exported text as a downloadable file in the format asked for."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from fastapi import Response

from autan.exports.writers import DOCX, MARKDOWN, ODT, docx_bytes, odt_bytes

MEDIA = {"md": MARKDOWN, "docx": DOCX, "odt": ODT}


def file_stem(title: str) -> str:
    """A portable file name stem from a title (ASCII, dashes, at most 60 characters)."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:60].strip("-")
    return slug or "export"


def render(markdown: str, fmt: str) -> bytes:
    """The Markdown text in the format asked for (md, docx or odt)."""
    if fmt == "docx":
        return docx_bytes(markdown)
    if fmt == "odt":
        return odt_bytes(markdown)
    return markdown.encode()


def export_file(markdown: str, fmt: str, title: str) -> Response:
    """A response that downloads the text as `<title>.<fmt>`."""
    name = f"{file_stem(title)}.{fmt}"
    disposition = f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"
    return Response(
        render(markdown, fmt),
        media_type=MEDIA[fmt],
        headers={"Content-Disposition": disposition},
    )
