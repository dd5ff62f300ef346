"""Images (PNG, JPEG, TIFF): each image, or each page of a multi-page TIFF, goes through OCR."""

from __future__ import annotations

import io
from collections.abc import Callable

from PIL import Image, ImageSequence, UnidentifiedImageError

from autan.documents.extraction.errors import (
    BrokenFile,
    EmptyDocument,
    FileTooLarge,
    TooManyPages,
)
from autan.documents.extraction.model import Block, ExtractedDocument, ExtractionLimits
from autan.documents.extraction.ocr import OCR_BATCH, ocr_pages, to_png

# Pillow reports truncated and corrupt images with any of these.
_BROKEN = (UnidentifiedImageError, OSError, SyntaxError, EOFError, ValueError, KeyError, TypeError)
# Pillow's own bound (~89 megapixels; it warns above, refuses at twice as many): a 600 dpi
# A3 scan is ~70 MP; beyond that, decoding alone costs hundreds of megabytes.
MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485


def extract_image(
    data: bytes,
    fmt: str,
    limits: ExtractionLimits,
    progress: Callable[[int, int], None] | None = None,
) -> ExtractedDocument:
    """Text of an image through OCR; pages of a multi-page TIFF are pages."""
    if not limits.ocr:
        raise EmptyDocument("The file is an image and text recognition (OCR) is turned off.")
    try:
        image = Image.open(io.BytesIO(data))
        frames = getattr(image, "n_frames", 1)
        if frames > limits.max_pages:
            raise TooManyPages(frames, limits.max_pages)
        blocks: list[Block] = []
        batch: list[bytes] = []
        for index, frame in enumerate(ImageSequence.Iterator(image)):
            if frame.width * frame.height > MAX_PIXELS:
                raise FileTooLarge.image(frame.width, frame.height)
            batch.append(to_png(frame, _dpi(frame)))
            if len(batch) == OCR_BATCH or index + 1 == frames:
                first = index + 2 - len(batch)
                for page, paragraphs in enumerate(ocr_pages(batch, limits), start=first):
                    blocks.extend(Block(text, page, (), "text") for text in paragraphs)
                batch = []
                if progress is not None:
                    progress(index + 1, frames)
    except Image.DecompressionBombError as exc:
        raise FileTooLarge.image() from exc
    except _BROKEN as exc:
        raise BrokenFile() from exc
    return ExtractedDocument(fmt, blocks, frames, None, frames)


def _dpi(image: Image.Image) -> int | None:
    """The resolution the image declares, when it is plausible (Tesseract guesses otherwise)."""
    declared = image.info.get("dpi")
    if isinstance(declared, tuple) and declared and isinstance(declared[0], int | float):
        value = round(float(declared[0]))
        if 70 <= value <= 1200:
            return value
    return None
