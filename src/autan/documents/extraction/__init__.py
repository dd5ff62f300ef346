"""Text and structure out of uploaded files: every supported format, OCR for scans.

Pure functions (no database, no HTTP): ``extract(data, filename)`` returns an
``ExtractedDocument`` of ``Block``s with their page and heading path, or raises an
``ExtractionError`` whose message can be shown to the person who sent the file.
"""

from autan.documents.extraction.dispatch import extract
from autan.documents.extraction.errors import (
    BrokenFile,
    EmptyDocument,
    EncryptedFile,
    ExtractionError,
    FileTooLarge,
    LegacyOfficeFormat,
    MislabelledFile,
    OcrUnavailable,
    TooManyPages,
    UnsupportedFormat,
)
from autan.documents.extraction.model import Block, ExtractedDocument, ExtractionLimits
from autan.documents.extraction.sniff import detect_format

__all__ = [
    "Block",
    "BrokenFile",
    "EmptyDocument",
    "EncryptedFile",
    "ExtractedDocument",
    "ExtractionError",
    "ExtractionLimits",
    "FileTooLarge",
    "LegacyOfficeFormat",
    "MislabelledFile",
    "OcrUnavailable",
    "TooManyPages",
    "UnsupportedFormat",
    "detect_format",
    "extract",
]
