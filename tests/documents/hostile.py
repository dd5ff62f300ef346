"""Hostile files, written by code: what an attacker (or a broken generator) may upload.

Each entry says what must happen to it: "ready" (read, whatever the trick) or the code of the
ExtractionError it must fail with. `measure()` extracts one file in a forked child and
reports its outcome, time and peak memory, so that a file that would exhaust memory takes
down a child, never the test run; `python -m tests.documents.hostile` prints the table that
docs/architecture.md quotes.
"""

from __future__ import annotations

import io
import json
import os
import resource
import struct
import sys
import time
import zlib
from dataclasses import dataclass

from tests.documents import files

# Something no real document contains: it marks text that must never be read (XXE).
PASSWD = "/etc/passwd"
TRAVERSAL_NAME = "autan-hostile-traversal.txt"

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.wordprocessingml.document.main+xml"/></Types>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
)
_ODF_MANIFEST = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
    'manifest:version="1.2"><manifest:file-entry manifest:full-path="/" '
    'manifest:media-type="{mime}"/><manifest:file-entry manifest:full-path="content.xml" '
    'manifest:media-type="text/xml"/></manifest:manifest>'
)
_ODF_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" office:version="1.2"'
)
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"


# --- a ZIP writer that can lie ---------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """A ZIP member as written: raw (compressed) bytes and the header's claims."""

    name: str
    raw: bytes
    method: int  # 0 stored, 8 deflated
    crc: int
    size: int  # the uncompressed size the headers declare


def stored(name: str, data: bytes) -> Member:
    return Member(name, data, 0, zlib.crc32(data), len(data))


def deflated(name: str, data: bytes) -> Member:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return Member(name, packer.compress(data) + packer.flush(), 8, zlib.crc32(data), len(data))


def write_zip(members: list[Member]) -> bytes:
    """A ZIP archive of these members, headers saying exactly what each Member says."""
    out = io.BytesIO()
    central = io.BytesIO()
    for member in members:
        name = member.name.encode()
        offset = out.tell()
        fields = (20, 0, member.method, 0, 0x21, member.crc, len(member.raw), member.size)
        out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", *fields, len(name), 0))
        out.write(name + member.raw)
        central.write(
            struct.pack(
                "<4s6H3L5H2L",
                b"PK\x01\x02",
                20,
                *fields,
                len(name),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
        )
        central.write(name)
    start, size = out.tell(), central.tell()
    out.write(central.getvalue())
    out.write(
        struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), size, start, 0)
    )
    return out.getvalue()


def lying_member(name: str, head: bytes, filler: bytes, repeats: int, tail: bytes) -> Member:
    """A deflated member whose stream inflates to head + filler * repeats + tail, while its
    headers declare (and its CRC matches) only the head and a little more: the "size lies"
    bomb. The stream is built from one flushed segment repeated, so writing it is instant."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = packer.compress(head) + packer.flush(zlib.Z_FULL_FLUSH)
    # After a full flush the compressor forgets its history: the segment of `filler` that
    # follows never refers back, so the same bytes can be repeated.
    segment = packer.compress(filler) + packer.flush(zlib.Z_FULL_FLUSH)
    end = packer.compress(tail) + packer.flush()
    declared = head + filler[:100]
    return Member(name, start + segment * repeats + end, 8, zlib.crc32(declared), len(declared))


# --- the files --------------------------------------------------------------------------


def huge_page_pdf(side: int = 14400) -> bytes:
    """One `side` x `side` pt page covered by a 1-pixel image: a "scan" that rendering at a
    fixed DPI turns into a bitmap of gigabytes (< 1 KB of PDF)."""
    content = f"q {side} 0 0 {side} 0 0 cm /Im0 Do Q".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {side} {side}] "
        "/Resources << /XObject << /Im0 4 0 R >> >> /Contents 5 0 R >>".encode(),
        b"<< /Type /XObject /Subtype /Image /Width 1 /Height 1 /ColorSpace /DeviceGray "
        b"/BitsPerComponent 8 /Length 1 >>\nstream\n\x80\nendstream",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


def _docx(document_xml: Member, *extra: Member) -> bytes:
    return write_zip(
        [
            deflated("[Content_Types].xml", _CONTENT_TYPES.encode()),
            deflated("_rels/.rels", _RELS.encode()),
            document_xml,
            *extra,
        ]
    )


def _word(body: str, doctype: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>{doctype}'
        f'<w:document xmlns:w="{_W}"><w:body>{body}</w:body></w:document>'
    ).encode()


def _paragraph(text: str) -> str:
    return f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"


def docx_size_lie(gigabytes: float = 1.0) -> bytes:
    """word/document.xml declares ~200 bytes and inflates to `gigabytes` GB."""
    head = _word(_paragraph("Début"))[: -len("</w:body></w:document>")] + b"<w:p><w:r><w:t>"
    repeats = int(gigabytes * 1024)
    return _docx(lying_member("word/document.xml", head, b"A" * (1 << 20), repeats, b"</w:t>"))


def _odf(mime: str, content: Member) -> bytes:
    return write_zip(
        [
            stored("mimetype", mime.encode()),
            deflated("META-INF/manifest.xml", _ODF_MANIFEST.format(mime=mime).encode()),
            content,
        ]
    )


def _odf_content(body: str, doctype: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{doctype}'
        f"<office:document-content {_ODF_NS}><office:body>{body}</office:body>"
        "</office:document-content>"
    ).encode()


def odt_size_lie(gigabytes: float = 1.0) -> bytes:
    """content.xml declares ~200 bytes and inflates to `gigabytes` GB."""
    head = _odf_content("<office:text><text:p>")[: -len("</office:body></office:document-content>")]
    repeats = int(gigabytes * 1024)
    return _odf(ODT, lying_member("content.xml", head, b"A" * (1 << 20), repeats, b"</text:p>"))


def ods_repeats(rows: int = 1_000_000, sheets: int = 20) -> bytes:
    """Under 1 KB: sheets of one row repeated a million times, of one cell repeated 16,384
    times, each saying a sentence (tens of millions of characters once expanded)."""
    cell = (
        '<table:table-cell table:number-columns-repeated="16384" office:value-type="string">'
        "<text:p>Le délai de réponse est de deux mois.</text:p></table:table-cell>"
    )
    row = f'<table:table-row table:number-rows-repeated="{rows}">{cell}</table:table-row>'
    tables = "".join(f'<table:table table:name="F{n}">{row}</table:table>' for n in range(sheets))
    return _odf(
        ODS,
        deflated("content.xml", _odf_content(f"<office:spreadsheet>{tables}</office:spreadsheet>")),
    )


def xlsx_sparse_shared(rows: int = 5000) -> bytes:
    """A few KB: a dimension of A1:XFD1048576, a cell at column XFD on every row (openpyxl
    pads each row to 16,384 cells), and every row pointing at one 30,000-character shared
    string."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    types = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'
    )
    root_rels = _RELS.replace("word/document.xml", "xl/workbook.xml")
    workbook = (
        f'<workbook xmlns="{main}" xmlns:r="{rel}"><sheets>'
        '<sheet name="Feuille" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    workbook_rels = (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{rel}/sharedStrings" Target="sharedStrings.xml"/>'
        "</Relationships>"
    )
    shared = f'<sst xmlns="{main}" count="1" uniqueCount="1"><si><t>{"mot " * 7500}</t></si></sst>'
    cells = "".join(
        f'<row r="{n}"><c r="A{n}" t="s"><v>0</v></c><c r="XFD{n}"><v>1</v></c></row>'
        for n in range(1, rows + 1)
    )
    sheet = (
        f'<worksheet xmlns="{main}"><dimension ref="A1:XFD1048576"/>'
        f"<sheetData>{cells}</sheetData></worksheet>"
    )
    return write_zip(
        [
            deflated("[Content_Types].xml", types.encode()),
            deflated("_rels/.rels", root_rels.encode()),
            deflated("xl/workbook.xml", workbook.encode()),
            deflated("xl/_rels/workbook.xml.rels", workbook_rels.encode()),
            deflated("xl/sharedStrings.xml", shared.encode()),
            deflated("xl/worksheets/sheet1.xml", sheet.encode()),
        ]
    )


_XXE = f'<!DOCTYPE doc [<!ENTITY xxe SYSTEM "file://{PASSWD}">]>'


def docx_xxe() -> bytes:
    """document.xml declares an external entity pointing at /etc/passwd and uses it."""
    body = _paragraph("Avant &xxe; après : la demande se fait en mairie.")
    return _docx(deflated("word/document.xml", _word(body, _XXE)))


def odt_xxe() -> bytes:
    body = (
        "<office:text><text:p>Avant &xxe; après : la demande se fait en mairie.</text:p>"
        "</office:text>"
    )
    return _odf(ODT, deflated("content.xml", _odf_content(body, _XXE)))


def svg_xxe_script() -> bytes:
    return (
        f'<?xml version="1.0" standalone="no"?>{_XXE}'
        '<svg xmlns="http://www.w3.org/2000/svg"><script>alert("svg")</script>'
        "<text>&xxe; La demande se fait en mairie.</text></svg>"
    ).encode()


def html_scripts() -> bytes:
    return (
        b"<html><head><script>alert('head')</script></head><body>"
        b"<script>document.location='https://example.org/'</script>"
        b"<p onclick=\"alert('click')\">La demande se fait en mairie.</p>"
        b"<svg><script>alert('svg')</script></svg><iframe src=\"javascript:alert(1)\"></iframe>"
        b"</body></html>"
    )


def html_doctype_subset() -> bytes:
    """An internal DTD subset (entities: billion laughs, XXE) and comments around the root:
    lxml gives comments without a parent, which failed with an internal error."""
    laughs = "".join(f'<!ENTITY l{n} "{f"&l{n - 1};" * 10 if n else "lol"}">' for n in range(10))
    return (
        f'<?xml version="1.0"?><!DOCTYPE html [{laughs}<!ENTITY xxe SYSTEM "file://{PASSWD}">]>'
        "<!-- avant --><html><body><p>&l9; &xxe; La demande se fait en mairie.</p></body></html>"
        "<!-- après -->"
    ).encode()


def html_huge_text() -> bytes:
    """One 12 MB text node: libxml2 dropped it (and the rest) silently: "no text"."""
    return b"<html><body><p>Bonjour.</p><p>" + b"mot " * 3_000_000 + b"</p></body></html>"


def html_deep() -> bytes:
    return b"<html><body>" + b"<div>" * 50_000 + b"texte" + b"</div>" * 50_000 + b"</body></html>"


def html_many_attributes(count: int = 200_000) -> bytes:
    """One element with 200,000 attributes (2 MB): libxml2 parses it in quadratic time."""
    attributes = " ".join(f"a{n}='>'" for n in range(count))
    return f"<html><body><p {attributes}>Bonjour.</p></body></html>".encode()


def traversal_docx() -> bytes:
    """A Word document with members named to escape any folder they would be unpacked to."""
    body = _paragraph("La demande se fait en mairie.")
    return _docx(
        deflated("word/document.xml", _word(body)),
        deflated(f"../../../../../../tmp/{TRAVERSAL_NAME}", b"escaped"),
        deflated(f"/tmp/{TRAVERSAL_NAME}", b"escaped"),
    )


def polyglot_pdf_zip() -> bytes:
    """A PDF with a Word document appended (valid as both: readers find each at its end)."""
    return files.make_pdf() + files.make_docx()


@dataclass(frozen=True)
class Hostile:
    name: str  # the file name it is sent under
    data: bytes
    expected: str  # "ready", or the code of the ExtractionError it fails with


def corpus() -> list[Hostile]:
    """Every hostile file, with what must become of it."""
    pdf = files.make_pdf()
    docx = files.make_docx()
    return [
        Hostile("page-geante.pdf", huge_page_pdf(), "page_too_large"),
        Hostile("mensonge.docx", docx_size_lie(), "file_too_large"),
        Hostile("mensonge.odt", odt_size_lie(), "file_too_large"),
        Hostile("repetitions.ods", ods_repeats(), "too_much_text"),
        Hostile("creux.xlsx", xlsx_sparse_shared(), "too_much_text"),
        Hostile("tronque.pdf", pdf[: len(pdf) // 2], "broken_file"),
        Hostile("tronque.docx", docx[: len(docx) // 2], "broken_file"),
        Hostile("secret.pdf", files.make_pdf(password="secret"), "encrypted_file"),
        Hostile("vrai-pdf.docx", pdf, "ready"),
        Hostile("programme.pdf", b"MZ\x90\x00" + bytes(range(256)) * 8, "mislabelled_file"),
        Hostile("polyglotte.pdf", polyglot_pdf_zip(), "ready"),
        Hostile("xxe.docx", docx_xxe(), "ready"),
        # odfpy's SAX parser refuses the entity it will not fetch: a damaged file to us.
        Hostile("xxe.odt", odt_xxe(), "broken_file"),
        Hostile("xxe.svg", svg_xxe_script(), "unsupported_format"),
        Hostile("scripts.html", html_scripts(), "ready"),
        Hostile("dtd.html", html_doctype_subset(), "ready"),
        Hostile("texte-enorme.html", html_huge_text(), "too_much_text"),
        Hostile("profond.html", html_deep(), "broken_file"),
        Hostile("attributs.html", html_many_attributes(), "broken_file"),
        Hostile("evasion.docx", traversal_docx(), "ready"),
    ]


# --- measuring ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    name: str
    result: str  # "ready" or an ExtractionError code ("crash: ..." for anything else)
    message: str  # the reason, or the text read (start)
    template: str  # the reason's message template ("" when ready)
    values: dict[str, object]  # the values filled into it
    text: str  # all the text read (when ready), to look for what must not be there
    seconds: float
    peak_mb: float  # the child's peak resident memory
    baseline_mb: float  # its resident memory before extracting


def _extract_one(item: Hostile) -> dict[str, object]:
    from autan.documents.extraction import ExtractionError, extract

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    template, values = "", {}
    try:
        document = extract(item.data, item.name)
        text = "\n".join(block.text for block in document.blocks)
        result, message = "ready", text[:200]
    except ExtractionError as exc:
        result, message, text = exc.code or "", exc.message, ""
        template, values = exc.template, exc.values
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails the test
        result, message, text = f"crash: {type(exc).__name__}", str(exc)[:500], ""
    return {
        "name": item.name,
        "result": result,
        "message": message,
        "template": template,
        "values": values,
        "text": text[:100_000],
        "seconds": round(time.perf_counter() - started, 3),
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "baseline_mb": round(baseline, 1),
    }


def measure(item: Hostile, memory_cap_mb: int = 6144) -> Outcome:
    """Extract one file in a forked child (address space capped) and report what happened."""
    # Import the libraries before forking, so that the child's baseline is the same for all.
    import autan.documents.extraction  # noqa: F401

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read)
        try:
            cap = memory_cap_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
            report = _extract_one(item)
        except BaseException as exc:  # noqa: BLE001
            report = {"name": item.name, "result": f"crash: {type(exc).__name__}"}
        with os.fdopen(write, "w") as out:
            out.write(json.dumps(report))
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as source:
        raw = source.read()
    _, status = os.waitpid(pid, 0)
    if not raw:
        return Outcome(item.name, f"crash: child status {status}", "", "", {}, "", 0.0, 0.0, 0.0)
    report = json.loads(raw)
    return Outcome(
        report["name"],
        report["result"],
        report.get("message", ""),
        report.get("template", ""),
        report.get("values", {}),
        report.get("text", ""),
        report.get("seconds", 0.0),
        report.get("peak_mb", 0.0),
        report.get("baseline_mb", 0.0),
    )


def main() -> None:
    """Print, for each hostile file, its size, outcome, time and peak memory (for the docs).

    ``--json CAP_MB`` prints one JSON object per file instead (for the tests), each child's
    address space capped at CAP_MB.
    """
    if sys.argv[1:2] == ["--json"]:
        cap = int(sys.argv[2])
        for item in corpus():
            print(json.dumps(measure(item, cap).__dict__), flush=True)  # noqa: T201
        return
    for item in corpus():
        if len(sys.argv) > 1 and item.name not in sys.argv[1:]:
            continue
        outcome = measure(item)
        print(  # noqa: T201 - a command-line report
            f"{item.name:20} {len(item.data):>9,} B  {outcome.result:18} "
            f"{outcome.seconds:7.2f} s  peak {outcome.peak_mb:7.0f} MB "
            f"(+{outcome.peak_mb - outcome.baseline_mb:.0f})  {outcome.message[:70]!r}",
            flush=True,
        )


if __name__ == "__main__":
    main()
