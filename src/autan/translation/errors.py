"""Errors of document translation, whole sentences translated by the UI's catalogue."""

from __future__ import annotations

from autan.core.errors import InvalidRequest, NotFound, PayloadTooLarge

# Why a job ended without its translation (catalogue ids, read in the person's language).
SOURCE_DELETED = "The document was deleted before its translation ended."
UNREADABLE = "This file could not be read: it is damaged or not what its name says."
INTERRUPTED_TOO_OFTEN = "The translation was interrupted too many times. Start it again."
TRANSLATION_FAILED = "The translation failed. Try again in a few minutes."


class TranslationNotFound(NotFound):
    code = "translation_not_found"

    def __init__(self) -> None:
        super().__init__("This translation does not exist, or it is not yours.")


class TranslationFormatUnsupported(InvalidRequest):
    code = "translation_format_unsupported"

    def __init__(self) -> None:
        super().__init__(
            "Only Markdown (.md), Word (.docx) and OpenDocument (.odt) files can be translated.",
            param="file",
        )


class TranslationFileUnreadable(InvalidRequest):
    code = "translation_file_unreadable"

    def __init__(self) -> None:
        super().__init__(
            "This file could not be read: it is damaged or not what its name says.", param="file"
        )


class TranslationEmpty(InvalidRequest):
    code = "translation_empty"

    def __init__(self) -> None:
        super().__init__("This document has no text to translate.", param="file")


class TranslationTooLarge(PayloadTooLarge):
    code = "translation_too_large"

    def __init__(self, limit_mb: int) -> None:
        super().__init__(
            "This file is too large to translate ({limit} MB at most).",
            param="file",
            values={"limit": limit_mb},
        )


class TranslationLanguageInvalid(InvalidRequest):
    code = "translation_language_invalid"

    def __init__(self) -> None:
        super().__init__("Choose the language to translate into.", param="target")
