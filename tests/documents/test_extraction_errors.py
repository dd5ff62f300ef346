"""Files that cannot be read give a clear error a person can act on, never a traceback."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable

import pytest

from autan.core.errors import InvalidRequest
from autan.documents.extraction import (
    BrokenFile,
    EmptyDocument,
    EncryptedFile,
    ExtractionError,
    FileTooLarge,
    LegacyOfficeFormat,
    MislabelledFile,
    UnsupportedFormat,
    extract,
)
from tests.documents import files

OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _truncated(maker: Callable[[], bytes], keep: float) -> bytes:
    data = maker()
    return data[: int(len(data) * keep)]


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (_truncated(files.make_pdf, 0.5), "guide.pdf"),
        (_truncated(files.make_pdf, 0.05), "guide.pdf"),
        (files.random_bytes(), "guide.docx"),
        (files.random_bytes(), "tableau.xlsx"),
        (files.random_bytes(), "cours.pptx"),
        (files.random_bytes(), "guide.odt"),
        (files.random_bytes(), "scan.png"),
        (_truncated(files.make_docx, 0.5), "guide.docx"),
        (_truncated(files.make_xlsx, 0.5), "tableau.xlsx"),
        (_truncated(files.make_pptx, 0.5), "cours.pptx"),
        (_truncated(files.make_odt, 0.5), "guide.odt"),
        pytest.param(
            _truncated(files.make_tiff, 0.3),
            "scan.tiff",
            # Pillow warns about the cut-off metadata before failing on the pixels.
            marks=pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning"),
        ),
    ],
)
def test_damaged_files(data: bytes, name: str) -> None:
    with pytest.raises(BrokenFile) as caught:
        extract(data, name)
    assert caught.value.message == "The file could not be read: it seems damaged or incomplete."
    assert caught.value.code == "broken_file"


def test_errors_are_invalid_requests_with_codes() -> None:
    with pytest.raises(ExtractionError) as caught:
        extract(files.random_bytes(), "guide.docx")
    assert isinstance(caught.value, InvalidRequest)


def test_encrypted_pdf() -> None:
    with pytest.raises(EncryptedFile, match="protected by a password. Remove the protection"):
        extract(files.make_pdf(password="secret"), "guide.pdf")


def test_pdf_with_only_usage_restrictions_is_read() -> None:
    """An owner password (no printing, no copying) does not stop reading the text."""
    document = extract(files.make_pdf(password=""), "guide.pdf")
    assert document.pages == 3
    assert any("timbre fiscal" in block.text for block in document.blocks)


def test_encrypted_office_file() -> None:
    # Office encrypts .docx/.xlsx/.pptx as an OLE2 file with an EncryptionInfo stream.
    data = OLE2 + b"\0" * 512 + "EncryptionInfo".encode("utf-16-le") + b"\0" * 512
    with pytest.raises(EncryptedFile):
        extract(data, "budget.xlsx")


def test_old_office_formats() -> None:
    with pytest.raises(LegacyOfficeFormat, match=r"old Office format .*save it as \.docx"):
        extract(OLE2 + b"\0" * 2048, "rapport.doc")


def test_zip_that_is_not_an_office_file() -> None:
    with pytest.raises(
        MislabelledFile, match=r"named \.docx but its content is a ZIP archive, not a Word"
    ):
        extract(files.plain_zip(), "rapport.docx")
    with pytest.raises(UnsupportedFormat, match="a ZIP archive that is not a Word"):
        extract(files.plain_zip(), "archive.zip")


def test_other_formats_are_refused_by_name() -> None:
    with pytest.raises(MislabelledFile, match=r"named \.png but its content is a GIF image"):
        extract(b"GIF89a" + b"\0" * 64, "photo.png")
    with pytest.raises(UnsupportedFormat, match="not supported: a program. Supported: PDF"):
        extract(b"MZ" + files.random_bytes(), "setup.exe")
    with pytest.raises(UnsupportedFormat, match="not supported: a .bin file"):
        extract(files.random_bytes(), "data.bin")


@pytest.mark.parametrize("data", [b"", b"   \n\n\t "])
def test_empty_file(data: bytes) -> None:
    with pytest.raises(EmptyDocument, match="The file is empty."):
        extract(data, "vide.pdf")


def test_documents_without_text() -> None:
    with pytest.raises(EmptyDocument, match="No text could be found in the document."):
        extract(b"--- ... ---\n\n***", "notes.txt")
    with pytest.raises(EmptyDocument):
        extract(b"<html><body><script>alert(1)</script></body></html>", "page.html")


def test_misnamed_files_are_read_as_what_they_are() -> None:
    """A .pdf that is a PNG is read as an image; a .docx that is plain text as text."""
    document = extract("Compte rendu de la réunion.\n\nDécisions prises.".encode(), "cr.docx")
    assert document.format == "txt"
    assert [block.text for block in document.blocks] == [
        "Compte rendu de la réunion.",
        "Décisions prises.",
    ]


def test_zip_bomb_is_refused_before_unpacking() -> None:
    with pytest.raises(FileTooLarge, match="compressed in a suspicious way"):
        extract(files.zip_bomb(), "rapport.docx")


def test_image_with_too_many_pixels_is_refused_before_decoding() -> None:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    # A few hundred bytes that claim 20,000 × 20,000 pixels (400 megapixels).
    header = struct.pack(">IIBBBBB", 20_000, 20_000, 1, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
    png += chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b"")
    with pytest.raises(FileTooLarge, match="too many pixels"):
        extract(png, "plan.png")


def test_too_much_content_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
        # Declared sizes are what the check reads; stored members keep this test small.
        for n in range(3):
            info = zipfile.ZipInfo(f"word/media/image{n}.png")
            archive.writestr(info, b"x")
    data = bytearray(buffer.getvalue())
    # Rewrite the central directory's declared sizes to 100 MB each (three times).
    marker = b"PK\x01\x02"
    start = data.find(marker)
    while start != -1:
        name_length = int.from_bytes(data[start + 28 : start + 30], "little")
        name = bytes(data[start + 46 : start + 46 + name_length])
        if name.startswith(b"word/media/"):
            data[start + 24 : start + 28] = (100 * 1024 * 1024).to_bytes(4, "little")
        start = data.find(marker, start + 4)
    with pytest.raises(FileTooLarge, match="it unpacks to 300 MB, more than 200 MB"):
        extract(bytes(data), "rapport.docx")
