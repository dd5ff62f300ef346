"""Scans and photos read through Debian's Tesseract, in French."""

from __future__ import annotations

import io

import pytest
from fpdf import FPDF
from PIL import Image

from autan.documents.extraction import (
    EmptyDocument,
    ExtractedDocument,
    ExtractionLimits,
    OcrUnavailable,
    extract,
)
from autan.documents.extraction.ocr import prepare
from tests.documents import files

# Words of files.SCAN_LINES that must come back, accents included.
EXPECTED = ["Préfecture", "récépissé", "séjour", "délivré", "après", "dépôt", "dossier", "complet"]


def words(document: ExtractedDocument) -> set[str]:
    text = " ".join(block.text for block in document.blocks)
    return {word.strip(".,;:'’\"“”«»()|") for word in text.split()}


def test_scanned_pdf_is_read_in_french() -> None:
    progress: list[tuple[int, int]] = []
    document = extract(
        files.make_scanned_pdf(), "scan.pdf", progress=lambda d, t: progress.append((d, t))
    )

    assert (document.format, document.pages, document.ocr_pages) == ("pdf", 1, 1)
    assert set(EXPECTED) <= words(document)
    assert "Haute-Garonne" in words(document)
    assert all(block.page == 1 for block in document.blocks)
    assert progress == [(1, 1)]


def test_scanned_pdf_without_ocr_has_no_text() -> None:
    with pytest.raises(
        EmptyDocument, match="if it is a scan, text recognition \\(OCR\\) is turned off"
    ):
        extract(files.make_scanned_pdf(), "scan.pdf", ExtractionLimits(ocr=False))


@pytest.mark.parametrize(("fmt", "name"), [("PNG", "photo.png"), ("JPEG", "photo.jpg")])
def test_photo_of_a_page(fmt: str, name: str) -> None:
    """Greyish, slightly turned, blurred and noisy, as a phone takes it."""
    document = extract(files.make_photo(fmt), name)

    assert (document.format, document.pages, document.ocr_pages) == (fmt.lower(), 1, 1)
    found = words(document)
    # OCR of a noisy photo is not perfect: most words, accents included, come back.
    assert len(found & set(EXPECTED)) >= len(EXPECTED) - 1, found


def test_pdf_named_file_that_is_an_image() -> None:
    document = extract(files.make_photo("PNG"), "courrier.pdf")

    assert document.format == "png"
    assert "Préfecture" in words(document)


def test_exif_orientation_is_applied() -> None:
    """A camera stores the picture sideways and says so in EXIF; the text must read upright."""
    upright = files.text_image(files.SCAN_LINES[:2])
    sideways = upright.rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    buffer = io.BytesIO()
    sideways.save(buffer, "JPEG", exif=exif.tobytes())

    document = extract(buffer.getvalue(), "photo.jpg")

    assert {"Préfecture", "Haute-Garonne", "migrations"} <= words(document)


def test_multipage_tiff_pages() -> None:
    document = extract(files.make_tiff(2), "courriers.tiff")

    assert (document.format, document.pages, document.ocr_pages) == ("tiff", 2, 2)
    assert [block.page for block in document.blocks] == [1, 2]
    assert "Page 2" in document.blocks[1].text and "préfecture" in document.blocks[1].text


def test_ocr_not_installed(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(OcrUnavailable, match="OCR\\) is not installed on the server"):
        extract(files.make_scanned_pdf(), "scan.pdf")
    # A PDF with a text layer needs no OCR.
    assert extract(files.make_pdf(), "guide.pdf").pages == 3


def test_images_without_ocr() -> None:
    with pytest.raises(EmptyDocument, match="image and text recognition"):
        extract(files.make_photo(), "photo.png", ExtractionLimits(ocr=False))


def test_scan_with_a_few_words_of_text_layer_is_still_read() -> None:
    """Scanning software often stamps a page number as text over the page image."""
    pdf = FPDF(format="A4")
    pdf.add_page()
    pdf.image(files.text_image(files.SCAN_LINES), x=0, y=0, w=210)
    pdf.set_font("helvetica", size=8)
    pdf.text(190, 290, "Page 1/1")
    document = extract(bytes(pdf.output()), "scan.pdf")

    assert document.ocr_pages == 1
    assert {"récépissé", "Préfecture"} <= words(document)


def test_images_are_prepared_for_tesseract() -> None:
    huge, scale = prepare(Image.new("RGB", (8000, 400), "white"))
    assert (huge.mode, huge.size, scale) == ("L", (5000, 250), 0.625)
    small, scale = prepare(Image.new("RGBA", (400, 300), (0, 0, 0, 0)))
    assert small.size == (1200, 900) and scale == 3.0
    assert small.getpixel((10, 10)) == 255  # transparency laid on white, not black


def test_missing_ocr_language_is_reported_as_ocr_unavailable() -> None:
    with pytest.raises(OcrUnavailable):
        extract(files.make_scanned_pdf(), "scan.pdf", ExtractionLimits(ocr_languages="xyz"))


# The same page gives text without the limit (tests above), so no text proves the limit cut
# the OCR short; the timeout mark, not a stopwatch, catches a hang.
@pytest.mark.timeout(60)
def test_page_over_the_ocr_time_limit_gives_no_text_instead_of_hanging() -> None:
    with pytest.raises(EmptyDocument):
        extract(files.make_scanned_pdf(), "scan.pdf", ExtractionLimits(ocr_timeout=0.05))
