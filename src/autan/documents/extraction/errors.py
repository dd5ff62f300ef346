"""Why a file could not be read, in words for the person who sent it."""

from __future__ import annotations

from typing import Any

from autan.core.errors import InvalidRequest

SUPPORTED = (
    "PDF, Word (.docx), Excel (.xlsx), PowerPoint (.pptx), OpenDocument (.odt, .ods, .odp), "
    "text (.txt, .md, .csv), web pages (.html) and images (PNG, JPEG, TIFF)"
)


class ExtractionError(InvalidRequest):
    """Base class: the document's text could not be extracted.

    `template` and `values` are kept beside the English message so that the reason can be
    shown later (the document's status page) in the reader's language, values filled in.
    """

    code = "extraction_failed"

    def __init__(self, template: str, **values: Any) -> None:
        super().__init__(template.format(**values) if values else template)
        self.template = template
        self.values = values


class UnsupportedFormat(ExtractionError):
    code = "unsupported_format"

    def __init__(self, what: str) -> None:
        super().__init__(
            "This kind of file is not supported: {what}. Supported: " + SUPPORTED + ".",
            what=what,
        )


class LegacyOfficeFormat(UnsupportedFormat):
    """An OLE2 compound file: .doc/.xls/.ppt, or an OOXML file encrypted with a password."""

    code = "legacy_office_format"

    def __init__(self) -> None:
        ExtractionError.__init__(
            self,
            "The file is in an old Office format (.doc, .xls, .ppt) or protected by a password. "
            "Open it, remove any password and save it as .docx, .xlsx or .pptx, then send it "
            "again.",
        )


class BrokenFile(ExtractionError):
    code = "broken_file"

    def __init__(self, detail: str | None = None) -> None:
        message = "The file could not be read: it seems damaged or incomplete."
        if detail:
            super().__init__(message + " {detail}", detail=detail)
        else:
            super().__init__(message)


class EncryptedFile(ExtractionError):
    code = "encrypted_file"

    def __init__(self) -> None:
        super().__init__(
            "The file is protected by a password. Remove the protection and send it again."
        )


class MislabelledFile(ExtractionError):
    code = "mislabelled_file"

    def __init__(self, extension: str, named_as: str, content: str) -> None:
        super().__init__(
            "The file is named .{extension} but its content is {content}, not {named_as}. "
            "Check that you sent the right file.",
            extension=extension,
            content=content,
            named_as=named_as,
        )


class TooManyPages(ExtractionError):
    code = "too_many_pages"

    def __init__(self, pages: int, limit: int, unit: str = "pages") -> None:
        super().__init__(
            "The document has {pages} {unit}; the limit is {limit}.",
            pages=pages,
            unit=unit,
            limit=limit,
        )


class FileTooLarge(ExtractionError):
    """The unpacked content would be far larger than any real document (a zip bomb)."""

    code = "file_too_large"

    def __init__(self, detail: str) -> None:
        super().__init__("The file is too large to be read: {detail}.", detail=detail)


class EmptyDocument(ExtractionError):
    code = "empty_document"

    def __init__(self, message: str = "No text could be found in the document.") -> None:
        super().__init__(message)


class OcrUnavailable(ExtractionError):
    code = "ocr_unavailable"

    def __init__(self) -> None:
        super().__init__(
            "This document is a scan or an image, and text recognition (OCR) is not installed "
            "on the server. Ask the administrator to install Tesseract, or send a document "
            "with selectable text."
        )


class TooMuchText(ExtractionError):
    """More text than any real document holds: a spreadsheet of repeated cells, a bomb."""

    code = "too_much_text"

    def __init__(self, limit: int) -> None:
        super().__init__(
            "The document holds more than {limit} characters of text, the limit per document. "
            "Split it into smaller documents and send them again.",
            limit=limit,
        )


class TooManyPassages(ExtractionError):
    code = "too_many_passages"

    def __init__(self, limit: int) -> None:
        super().__init__(
            "The document would make more than {limit} passages to index, the limit per "
            "document. Split it into smaller documents and send them again.",
            limit=limit,
        )


class UnpackedTooLarge(ExtractionError):
    """A ZIP-based document whose members really unpack to more than the budget."""

    code = "file_too_large"

    def __init__(self, limit_mb: int) -> None:
        super().__init__(
            "The file unpacks to more than {limit} MB, the limit per document.", limit=limit_mb
        )


class PageTooLarge(ExtractionError):
    """A scanned page so large that no real scan has it (rendering it would exhaust memory)."""

    code = "page_too_large"

    def __init__(self, page: int, width_cm: int, height_cm: int) -> None:
        super().__init__(
            "Page {page} measures {width} × {height} cm, too large to be read by text "
            "recognition (OCR).",
            page=page,
            width=width_cm,
            height=height_cm,
        )
