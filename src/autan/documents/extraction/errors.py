"""Why a file could not be read, in words for the person who sent it."""

from __future__ import annotations

from autan.core.errors import InvalidRequest, Plural, Value

SUPPORTED = (
    "PDF, Word (.docx), Excel (.xlsx), PowerPoint (.pptx), OpenDocument (.odt, .ods, .odp), "
    "text (.txt, .md, .csv), web pages (.html) and images (PNG, JPEG, TIFF)"
)


class ExtractionError(InvalidRequest):
    """Base class: the document's text could not be extracted.

    `template` and `values` (see `AutanError`) are stored with the document, so that the
    reason can be shown later (its status page) in the reader's language, values filled in.
    """

    code = "extraction_failed"

    def __init__(self, template: str, **values: Value) -> None:
        super().__init__(template, values=values)


class UnsupportedFormat(ExtractionError):
    code = "unsupported_format"

    def __init__(self, what: str = "a file of unknown type", *, extension: str = "") -> None:
        """`what` is a catalogued description ("a RAR archive"); else the file's extension."""
        if extension:
            super().__init__(
                "This kind of file is not supported: a .{extension} file. Supported: "
                + SUPPORTED
                + ".",
                extension=extension,
            )
        else:
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

    def __init__(
        self, message: str = "The file could not be read: it seems damaged or incomplete."
    ) -> None:
        super().__init__(message)

    @classmethod
    def too_many_attributes(cls) -> BrokenFile:
        """An HTML element with more attributes than any real page (libxml2 is quadratic)."""
        return cls(
            "The file could not be read: an element of the page has thousands of attributes, "
            "which no real page has."
        )


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


_UNITS = {
    "pages": ("{count} page", "{count} pages"),
    "slides": ("{count} slide", "{count} slides"),
    "sheets": ("{count} sheet", "{count} sheets"),
}


class TooManyPages(ExtractionError):
    code = "too_many_pages"

    def __init__(self, pages: int, limit: int, unit: str = "pages") -> None:
        singular, plural = _UNITS[unit]
        super().__init__(
            "The document has {pages}; the limit is {limit}.",
            pages=Plural(singular, plural, pages),
            limit=limit,
        )


class FileTooLarge(ExtractionError):
    """The unpacked content would be far larger than any real document (a zip bomb)."""

    code = "file_too_large"

    @classmethod
    def unpacked(cls, size_mb: int, limit_mb: int) -> FileTooLarge:
        """An archive whose members add up to more than `limit_mb`."""
        return cls(
            "The file is too large to be read: it unpacks to {size} MB, more than {limit} MB.",
            size=size_mb,
            limit=limit_mb,
        )

    @classmethod
    def zip_bomb(cls) -> FileTooLarge:
        """A member compressed far better than any real document."""
        return cls(
            "The file is too large to be read: its content is compressed in a suspicious way "
            "(a zip bomb)."
        )

    @classmethod
    def image(cls, width: int | None = None, height: int | None = None) -> FileTooLarge:
        """An image with more pixels than text recognition takes."""
        if width is None or height is None:
            return cls("The file is too large to be read: the image has too many pixels.")
        return cls(
            "The file is too large to be read: the image has {width} × {height} pixels.",
            width=width,
            height=height,
        )


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
