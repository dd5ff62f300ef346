"""Which format a file really is, from its content; the name only tells text kinds apart."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import PurePath

from autan.documents.extraction.errors import (
    BrokenFile,
    EmptyDocument,
    EncryptedFile,
    FileTooLarge,
    LegacyOfficeFormat,
    MislabelledFile,
    UnpackedTooLarge,
    UnsupportedFormat,
)

# Unpacked size limits for ZIP-based formats (OOXML, OpenDocument): a real 2,000-page
# document stays far below them, a zip bomb does not.
MAX_UNPACKED_BYTES = 200 * 1024 * 1024
MAX_MEMBER_RATIO = 200  # XML compresses ~10-20x; far more means crafted content
RATIO_CHECK_FROM = 10 * 1024 * 1024  # small members may compress well for innocent reasons
# A real document has tens to hundreds of members; tens of thousands mean a crafted file.
MAX_MEMBERS = 10_000
_IN_PIECE = 64 * 1024
_OUT_PIECE = 1024 * 1024

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTION_INFO = "EncryptionInfo".encode("utf-16-le")
_IMAGES = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
)
_UNSUPPORTED_MAGIC = (
    (b"GIF8", "a GIF image"),
    (b"BM", "a BMP image"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"MZ", "a program"),
    (b"\x7fELF", "a program"),
    (b"{\\rtf", "an RTF document"),
)
_ODF_MIMETYPES = {
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.oasis.opendocument.text-template": "odt",
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
    "application/vnd.oasis.opendocument.spreadsheet-template": "ods",
    "application/vnd.oasis.opendocument.presentation": "odp",
    "application/vnd.oasis.opendocument.presentation-template": "odp",
}
_OOXML_PARTS = (
    ("word/document.xml", "docx"),
    ("xl/workbook.xml", "xlsx"),
    ("ppt/presentation.xml", "pptx"),
)
# What each supported format is called, for messages about mislabelled files.
FORMAT_NAMES = {
    "pdf": "a PDF document",
    "docx": "a Word document",
    "xlsx": "an Excel workbook",
    "pptx": "a PowerPoint presentation",
    "odt": "an OpenDocument text",
    "ods": "an OpenDocument spreadsheet",
    "odp": "an OpenDocument presentation",
    "png": "a PNG image",
    "jpeg": "a JPEG image",
    "tiff": "a TIFF image",
}
_EXTENSIONS = {
    "pdf": "pdf",
    "docx": "docx",
    "docm": "docx",
    "xlsx": "xlsx",
    "xlsm": "xlsx",
    "pptx": "pptx",
    "pptm": "pptx",
    "odt": "odt",
    "ott": "odt",
    "ods": "ods",
    "ots": "ods",
    "odp": "odp",
    "otp": "odp",
    "png": "png",
    "jpg": "jpeg",
    "jpeg": "jpeg",
    "tif": "tiff",
    "tiff": "tiff",
}
_TEXT_EXTENSIONS = {
    "md": "md",
    "markdown": "md",
    "csv": "csv",
    "tsv": "csv",
    "htm": "html",
    "html": "html",
    "xhtml": "html",
}
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml version")
SNIFF_BYTES = 8192


def extension(filename: str) -> str:
    """The lower-case extension of a file name, without the dot ('' when there is none)."""
    return PurePath(filename).suffix.lower().lstrip(".")


def detect_format(data: bytes, filename: str) -> str:
    """The format of `data`: magic bytes, ZIP members, else text sniffing and the extension."""
    if not data.strip():
        raise EmptyDocument("The file is empty.")
    ext = extension(filename)
    head = data[:SNIFF_BYTES]
    if b"%PDF-" in data[:1024]:
        return "pdf"
    for magic, name in _IMAGES:
        if head.startswith(magic):
            return name
    if head.startswith(_OLE2):
        # Encrypted OOXML is an OLE2 container with an EncryptionInfo stream.
        if _ENCRYPTION_INFO in data:
            raise EncryptedFile()
        raise LegacyOfficeFormat()
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_format(data, ext)
    for magic, what in _UNSUPPORTED_MAGIC:
        if head.startswith(magic):
            raise _unsupported(ext, what)
    if _looks_binary(head):
        if ext in _EXTENSIONS or ext in _TEXT_EXTENSIONS or ext == "txt":
            raise BrokenFile()
        raise UnsupportedFormat(extension=ext) if ext else UnsupportedFormat()
    return _text_format(head, ext)


def _unsupported(ext: str, what: str) -> UnsupportedFormat | MislabelledFile:
    if ext in _EXTENSIONS:
        return MislabelledFile(ext, FORMAT_NAMES[_EXTENSIONS[ext]], what)
    return UnsupportedFormat(what)


def _zip_format(data: bytes, ext: str) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            fmt = _zip_kind(archive, names)
    except (zipfile.BadZipFile, EOFError, ValueError, KeyError) as exc:
        raise BrokenFile() from exc
    if fmt is None:
        if ext in _EXTENSIONS:
            raise MislabelledFile(ext, FORMAT_NAMES[_EXTENSIONS[ext]], "a ZIP archive")
        raise UnsupportedFormat(
            "a ZIP archive that is not a Word, Excel, PowerPoint or OpenDocument file"
        )
    return fmt


def _zip_kind(archive: zipfile.ZipFile, names: set[str]) -> str | None:
    if "mimetype" in names:
        with archive.open("mimetype") as member:
            mimetype = member.read(200).decode("ascii", "replace").strip()
        if mimetype in _ODF_MIMETYPES:
            return _ODF_MIMETYPES[mimetype]
    if "[Content_Types].xml" in names:
        for part, fmt in _OOXML_PARTS:
            if part in names:
                return fmt
    return None


def check_zip(data: bytes, max_unpacked: int = MAX_UNPACKED_BYTES) -> None:
    """Refuse ZIP containers whose members would unpack to an unreasonable size.

    Declared sizes are checked first (cheap); then every member is really unpacked, in
    bounded pieces that are counted and dropped, because headers can lie: a member that
    declares 2 KB may inflate to gigabytes, and zipfile's ``read()`` (which the Office
    libraries call) inflates all of it in one piece before cutting it to the declared size.
    Once every member is known to unpack to exactly what it declares, within
    `max_unpacked` bytes in all, the libraries cannot be made to allocate more.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise BrokenFile() from exc
    total = sum(info.file_size for info in infos)
    if total > MAX_UNPACKED_BYTES:
        raise FileTooLarge.unpacked(total // (1024 * 1024), MAX_UNPACKED_BYTES // (1024 * 1024))
    for info in infos:
        if info.file_size > RATIO_CHECK_FROM and info.file_size > MAX_MEMBER_RATIO * max(
            info.compress_size, 1
        ):
            raise FileTooLarge.zip_bomb()
    if len(infos) > MAX_MEMBERS:
        raise FileTooLarge.zip_bomb()
    remaining = max_unpacked
    view = memoryview(data)
    for info in infos:
        remaining -= _unpack_counted(view, info, remaining, max_unpacked)


def _unpack_counted(view: memoryview, info: zipfile.ZipInfo, budget: int, max_unpacked: int) -> int:
    """The real unpacked size of a member, checked against its header and the budget."""
    start = info.header_offset
    header = bytes(view[start : start + 30])
    if len(header) < 30 or not header.startswith(b"PK\x03\x04"):
        raise BrokenFile()
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    begin = start + 30 + name_length + extra_length
    raw = view[begin : begin + info.compress_size]
    if len(raw) < info.compress_size:
        raise BrokenFile()
    if info.flag_bits & 0x1:
        raise EncryptedFile()
    if info.compress_type == zipfile.ZIP_STORED:
        produced = len(raw)
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        produced = _inflated_size(raw, info.file_size, budget)
    else:
        raise BrokenFile()  # Office software writes stored or deflated members only
    if produced > budget:
        raise UnpackedTooLarge(max(1, round(max_unpacked / (1024 * 1024))))
    if produced != info.file_size:
        # More than declared is a crafted bomb; less is a damaged file.
        raise FileTooLarge.zip_bomb() if produced > info.file_size else BrokenFile()
    return produced


def _inflated_size(raw: memoryview, declared: int, budget: int) -> int:
    """Bytes a deflate stream inflates to, stopping past `declared` or `budget` bytes."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    stop = min(declared, budget)
    produced = 0
    try:
        for offset in range(0, len(raw), _IN_PIECE):
            pending = bytes(raw[offset : offset + _IN_PIECE])
            while pending:
                # max_length bounds each piece: 64 KB of input may inflate to 64 MB.
                produced += len(inflater.decompress(pending, _OUT_PIECE))
                if produced > stop:
                    return produced
                pending = inflater.unconsumed_tail
            if inflater.eof:
                break
        produced += len(inflater.flush())
    except zlib.error as exc:
        raise BrokenFile() from exc
    return produced


def _looks_binary(head: bytes) -> bool:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False  # UTF-16 with a byte order mark
    # Control bytes other than tab, newlines and form feed are rare in any text encoding;
    # a few (a stray NUL) are dropped by normalisation, many mean binary content.
    controls = sum(1 for byte in head if byte < 32 and byte not in (9, 10, 12, 13))
    return controls > len(head) // 20


def _text_format(head: bytes, ext: str) -> str:
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    svg = start.startswith((b"<?xml", b"<svg", b"<!doctype svg")) and b"<svg" in start
    if ext == "svg" or (svg and b"<html" not in start):
        # Read as text it would be its markup (scripts included), not what it shows.
        raise _unsupported(ext, "an SVG image")
    if start.startswith(_HTML_STARTS) and (b"<html" in start or b"<body" in start):
        return "html"
    if start.startswith((b"<!doctype html", b"<html")):
        return "html"
    return _TEXT_EXTENSIONS.get(ext, "txt")
