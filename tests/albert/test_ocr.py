"""`POST /v1/ocr` in Mistral OCR's shape (the one Albert's OCR route follows), written from
Mistral's documented payloads: `document` is `{"type": "document_url", "document_url"}` or
`{"type": "image_url", "image_url"}`, `pages` are 0-based; the answer holds `pages[]` with
`index`, `markdown`, `images`, `dimensions`, then `model` and `usage_info`
(`pages_processed`, `doc_size_bytes`). The real Tesseract and PDF extraction read the files.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import httpx
import pytest

from autan.llm.config import ModelConfig, ModelsConfig, ReplicaConfig
from tests.conftest import RunningAutan, make_settings, serve_autan
from tests.documents import files
from tests.documents.test_extraction_ocr import EXPECTED
from tests.documents.test_ingestion import with_documents
from tests.support.database import SqliteDatabases

MODELS = ModelsConfig(
    models=[ModelConfig(id="m", replicas=[ReplicaConfig(url="http://127.0.0.1:9/v1")])]
)
LIMIT = 2 * 1024 * 1024


def data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


@pytest.fixture(scope="module")
async def autan(
    tmp_path_factory: pytest.TempPathFactory, sqlite_databases: SqliteDatabases
) -> AsyncIterator[RunningAutan]:
    # OCR reads no table: one engine is enough for it.
    settings = with_documents(
        make_settings(tmp_path_factory.mktemp("ocr"), sqlite_databases.new(), MODELS),
        max_file_bytes=LIMIT,
    )
    async with serve_autan(settings) as running:
        yield running


async def test_scanned_pdf_comes_back_as_markdown_pages(autan: RunningAutan) -> None:
    body = {
        "model": "mistral-ocr-latest",
        "document": {
            "type": "document_url",
            "document_url": data_uri("application/pdf", files.make_scanned_pdf(2)),
        },
        "include_image_base64": False,
    }
    async with autan.client() as client:
        response = await client.post("/v1/ocr", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [page["index"] for page in answer["pages"]] == [0, 1]
    for page in answer["pages"]:
        assert set(EXPECTED) <= set(page["markdown"].replace(".", " ").split())
        assert page["images"] == []
    assert answer["model"] == "mistral-ocr-latest"
    assert answer["usage_info"]["pages_processed"] == 2
    assert answer["usage_info"]["doc_size_bytes"] > 0


async def test_text_pdf_keeps_its_pages_and_headings(autan: RunningAutan) -> None:
    uri = data_uri("application/pdf", files.make_pdf())
    async with autan.client() as client:
        everything = await client.post(
            "/v1/ocr", json={"document": {"type": "document_url", "document_url": uri}}
        )
        third = await client.post(
            "/v1/ocr",
            json={"document": {"type": "document_url", "document_url": uri}, "pages": [2]},
        )
    pages = everything.json()["pages"]
    assert len(pages) == 3
    assert pages[0]["markdown"].startswith("#") and files.INTRO.split()[0] in pages[0]["markdown"]
    assert files.COSTS in pages[2]["markdown"] and files.COSTS not in pages[0]["markdown"]
    assert third.json()["pages"] == [pages[2]]


async def test_image_url_is_read_by_tesseract(autan: RunningAutan) -> None:
    image = data_uri("image/png", files.make_photo("PNG"))
    async with autan.client() as client:
        response = await client.post(
            "/v1/ocr", json={"document": {"type": "image_url", "image_url": image}}
        )
    assert response.status_code == 200, response.text
    markdown = response.json()["pages"][0]["markdown"]
    assert len(set(EXPECTED) & set(markdown.replace(".", " ").split())) >= len(EXPECTED) // 2


@pytest.mark.parametrize(
    ("document", "status", "words"),
    [
        ({"type": "document_url", "document_url": "https://example.org/a.pdf"}, 400, "remote"),
        ({"type": "document_url", "document_url": "file:///etc/passwd"}, 400, "data URI"),
        (
            {"type": "document_url", "document_url": "data:application/pdf;base64,@@@"},
            400,
            "base64",
        ),
        ({"type": "image_url", "image_url": data_uri("image/png", b"not an image")}, 400, "image"),
        (
            {"type": "image_url", "image_url": data_uri("image/png", files.make_photo()[:300])},
            400,
            "",
        ),
        (
            {
                "type": "document_url",
                "document_url": data_uri("application/pdf", b"x" * (LIMIT + 10)),
            },
            413,
            "MB",
        ),
        ({"type": "audio_url", "audio_url": "data:audio/ogg;base64,AA=="}, 400, "document"),
    ],
)
async def test_bad_documents_are_refused_in_plain_words(
    autan: RunningAutan, document: dict[str, str], status: int, words: str
) -> None:
    async with autan.client() as client:
        response = await client.post("/v1/ocr", json={"document": document})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"] and words in error["message"]


async def test_pages_out_of_range_and_anonymous_callers_are_refused(autan: RunningAutan) -> None:
    uri = data_uri("application/pdf", files.make_pdf())
    async with autan.client() as client:
        response = await client.post(
            "/v1/ocr",
            json={"document": {"type": "document_url", "document_url": uri}, "pages": [3]},
        )
    async with httpx.AsyncClient(base_url=autan.base_url) as anonymous:
        refused = await anonymous.post(
            "/v1/ocr", json={"document": {"type": "document_url", "document_url": uri}}
        )
    assert response.status_code == 400 and "3 pages" in response.json()["error"]["message"]
    assert refused.status_code == 401
