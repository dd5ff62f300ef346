"""`POST /v1/ocr`: Mistral OCR's shape on Autan's extraction (see autan.documents.ocr)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from autan.core.body import json_body, parse_body
from autan.deps import CurrentPrincipal, principal
from autan.documents.ocr import OcrIn, ocr
from autan.documents.worker import IngestionWorker, extraction_limits
from autan.services import services_of

router = APIRouter(prefix="/v1", tags=["Documents (RAG)"], dependencies=[Depends(principal)])


@router.post("/ocr", openapi_extra=json_body(OcrIn))
async def read_document(request: Request, me: CurrentPrincipal) -> dict[str, Any]:
    """The text of a PDF, scan or image sent as a data URI, as Markdown page by page."""
    body = await parse_body(request, OcrIn)
    # Reading a scan costs seconds of CPU: it counts like any model request.
    await services_of(request).quotas.check(me)
    worker: IngestionWorker = services_of(request).documents
    settings = worker.settings
    return await ocr(body, extraction_limits(settings), settings.max_file_bytes)
