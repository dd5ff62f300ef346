"""Settings of document ingestion (`AUTAN_DOCUMENTS__*`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

# What multipart framing adds around a file, at most (boundaries, part headers, fields).
MULTIPART_SLACK = 64 * 1024


class DocumentSettings(BaseModel):
    """Limits of uploaded files and how they are parsed, chunked and embedded."""

    max_file_bytes: int = Field(
        50 * 1024 * 1024, ge=1, description="Largest file accepted, in bytes (50 MiB)."
    )
    max_pages: int = Field(2000, ge=1, description="Most pages (slides, sheets) per document.")
    max_characters: int = Field(
        5_000_000,
        ge=1,
        description="Most characters of text per document, counted while it is read (a cell "
        "of a spreadsheet counts at least one); a document over it fails with this limit named.",
    )
    max_passages: int = Field(
        20_000,
        ge=1,
        description="Most passages (chunks) per document: each is embedded, so this bounds the "
        "time one document holds the embedding model.",
    )
    max_unpacked_bytes: int = Field(
        100 * 1024 * 1024,
        ge=1,
        description="Most bytes a Word, Excel, PowerPoint or OpenDocument file may really unpack "
        "to (measured while unpacking, whatever its headers declare).",
    )
    ocr_max_pixels: int = Field(
        25_000_000,
        ge=1_000_000,
        description="Largest bitmap a page is rendered to for OCR, in pixels: the resolution "
        "is lowered for large pages so that memory stays bounded (25 MP: A3 at 200 dpi).",
    )
    ocr_max_page_area: float = Field(
        4 * 2384 * 3370,
        gt=0,
        description="Largest scanned page read by OCR, in square points (default 4 x A0); "
        "larger pages are not rendered.",
    )
    ocr: bool = Field(True, description="Read scanned pages and images with Tesseract.")
    ocr_languages: str = Field("fra+eng", description="Tesseract languages, joined with +.")
    chunk_tokens: int = Field(
        300, ge=32, le=480, description="Largest passage, in tokens (e5 reads at most 512)."
    )
    chunk_overlap: int = Field(40, ge=0, description="Tokens repeated from the previous passage.")
    embedding_model: str | None = Field(
        None, description="Embedding model id (default: the deployment's first embedding model)."
    )
    embed_batch: int = Field(
        32, ge=1, le=512, description="Passages sent to the embedding model per request."
    )
    worker_concurrency: int | None = Field(
        None,
        ge=1,
        description="Documents processed at once by each server process (and by each "
        "`autan worker`, unless its --concurrency says otherwise); default: one per replica "
        "of the embedding model, so that each replica has a document to work on.",
    )
    embed_parallel: int | None = Field(
        None,
        ge=1,
        description="Batches of one document sent to the embedding model at once (default: "
        "as many as its healthy replicas take at once, so that every replica works).",
    )
    worker_in_serve: bool = Field(
        True,
        description="Process queued documents inside each `autan serve` process; "
        "`autan serve --no-worker` turns it off, leaving them to `autan worker` processes.",
    )
    stop_grace: float = Field(
        10.0,
        ge=0,
        description="Seconds a stopping worker lets its documents in progress finish before "
        "putting them back in the queue for another worker.",
    )
    max_attempts: int = Field(
        3, ge=1, description="Tries of a document whose embedding fails (model unreachable)."
    )
    retry_delay: float = Field(
        2.0, ge=0, description="Seconds before the first retry of a failed embedding (doubles)."
    )
    stale_after: float = Field(
        120.0,
        ge=0,
        description="Seconds without a heartbeat after which a document being processed is "
        "considered abandoned (its process was stopped) and queued again.",
    )
    poll_interval: float = Field(
        5.0, gt=0, description="Seconds between checks for queued work when nothing woke us."
    )
