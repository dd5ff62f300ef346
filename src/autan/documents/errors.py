"""Errors of collections and documents, in words a user understands."""

from __future__ import annotations

from autan.core.errors import Forbidden, InvalidRequest, NotFound, PayloadTooLarge


class CollectionNotFound(NotFound):
    code = "collection_not_found"

    def __init__(self) -> None:
        super().__init__("No such collection, or you do not have access to it.", param="collection")


class DocumentNotFound(NotFound):
    code = "document_not_found"

    def __init__(self) -> None:
        super().__init__("No such document, or you do not have access to it.")


class FileTooLarge(PayloadTooLarge):
    code = "file_too_large"

    def __init__(self, limit_bytes: int) -> None:
        megabytes = limit_bytes >= 1024 * 1024
        super().__init__(
            "The file is larger than the {size} MB limit."
            if megabytes
            else "The file is larger than the {size} KB limit.",
            param="file",
            values={"size": size_number(limit_bytes)},
        )


def size_number(size: int) -> int:
    """A size in MB from 1 MB up, else in KB (at least 1), for messages."""
    if size >= 1024 * 1024:
        return round(size / (1024 * 1024))
    return max(1, round(size / 1024))


def size_label(size: int) -> str:
    """A size in words for messages: "50 MB", "200 KB"."""
    return f"{size_number(size)} {'MB' if size >= 1024 * 1024 else 'KB'}"


class MissingFile(InvalidRequest):
    code = "missing_file"

    def __init__(self) -> None:
        super().__init__("Send the document as a multipart form field named `file`.", param="file")


class CannotManageCollection(Forbidden):
    code = "collection_read_only"

    def __init__(self) -> None:
        super().__init__("You can read this collection but not change it.")


class VisibilityNotAllowed(Forbidden):
    code = "visibility_not_allowed"

    def __init__(self, visibility: str) -> None:
        super().__init__(
            "Only administrators can create public collections."
            if visibility == "public"
            else "Only AI referents and administrators can create collections shared with "
            "the organisation.",
            param="visibility",
        )


class NoEmbeddingModel(InvalidRequest):
    code = "no_embedding_model"

    def __init__(self) -> None:
        super().__init__(
            "This server has no embedding model, so documents cannot be searched. "
            "Ask the administrator to declare one."
        )


class NoChatModel(InvalidRequest):
    code = "model_not_found"

    def __init__(self, model: str) -> None:
        super().__init__(
            "The model `{model}` does not exist.", param="model", values={"model": model}
        )


# Reasons a document ends `failed`, stored in its `error` column and shown as they are.
UNEXPECTED_FAILURE = "An unexpected error stopped the processing of this document."
INTERRUPTED_TOO_OFTEN = (
    "The processing of this document was interrupted too many times. Send it again."
)


# Why a document failed after the embedding model failed `attempts` times.
EMBEDDING_FAILURE = (
    "The search model could not be reached ({attempts}). "
    "Try again later, or ask the administrator to check the embedding model."
)
