"""Settings of document ingestion (`AUTAN_DOCUMENTS__*`)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class DocumentSettings(BaseModel):
    """Limits of uploaded files and how they are parsed, chunked and embedded."""

    max_file_bytes: int = Field(
        50 * 1024 * 1024, ge=1, description="Largest file accepted, in bytes (50 MiB)."
    )
    max_pages: int = Field(2000, ge=1, description="Most pages (slides, sheets) per document.")
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
    worker_concurrency: int = Field(
        1, ge=1, description="Documents processed at once by each server process."
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
