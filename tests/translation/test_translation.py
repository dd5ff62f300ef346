"""Translating an uploaded Markdown, DOCX or ODT document through the chat model: sections
translated one model call each (map), written back into the same format (reduce) with its
headings, lists and tables; progress shown; bad files refused in plain words; every job its
owner's alone. The scripted upstream speaks the OpenAI protocol; one test runs the real
embedded model on a tiny document. Both engines."""

from __future__ import annotations

import asyncio
import html
import io
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from docx import Document as DocxDocument
from odf import teletype
from odf import text as odf_text
from odf.opendocument import load as load_odt
from sqlalchemy import func, select

from autan.exports.writers import docx_bytes, odt_bytes
from autan.llm.config import ModelConfig, ModelsConfig, ReplicaConfig
from autan.translation.documents import read
from autan.translation.models import TranslationJob, TranslationStatus
from autan.translation.service import parse_section
from tests.support.library import database
from tests.support.scripted_upstream import scripted_upstream
from tests.support.web import Site, hidden, run_site

SOURCE = """# Guide d'accueil

Bienvenue dans le service.

## Démarches

- Créer son compte
- Lire la charte [skip]

| Étape | Délai |
|---|---|
| Badge | Deux jours |
"""


@pytest.fixture
async def site(tmp_path: Path, database_url: str) -> AsyncIterator[Site]:
    async with scripted_upstream() as upstream:
        models = ModelsConfig(
            models=[ModelConfig(id="scripted", replicas=[ReplicaConfig(url=upstream)])]
        )
        async with run_site(tmp_path, database_url, models) as running:
            yield running


async def upload(
    browser: httpx.AsyncClient, name: str, data: bytes, target: str = "en"
) -> httpx.Response:
    csrf = hidden((await browser.get("/translate")).text, "csrf_token")
    return await browser.post(
        "/translate",
        data={"csrf_token": csrf, "target": target},
        files={"file": (name, data, "application/octet-stream")},
    )


async def finished(browser: httpx.AsyncClient, path: str, attempts: int = 300) -> str:
    for _ in range(attempts):
        progress = (await browser.get(f"{path}/progress")).text
        if "hx-trigger" not in progress:
            return html.unescape(progress)
        await asyncio.sleep(0.1)
    raise AssertionError("the translation did not finish")


def test_long_documents_are_cut_into_sections_at_headings() -> None:
    long = "# Un\n\n" + "\n\n".join(f"Paragraphe {n} " + "mot " * 100 for n in range(12))
    found = read((long + "\n# Deux\n\nFin.\n").encode(), "md")
    assert len(found.sections) > 3
    assert all(len(found.segments[s[0]].text) > 0 for s in found.sections)
    assert found.segments[found.sections[-1][0]].text == "Deux"
    # A line the model dropped keeps its text; the others are not shifted.
    assert parse_section("[1] One\n[3] Three", ["Un", "Deux", "Trois"]) == ["One", "Deux", "Three"]


@pytest.mark.parametrize("fmt", ["md", "docx", "odt"])
async def test_a_document_comes_back_translated_in_its_own_format(site: Site, fmt: str) -> None:
    data = {"md": SOURCE.encode(), "docx": docx_bytes(SOURCE), "odt": odt_bytes(SOURCE)}[fmt]
    async with site.signed_in("member_a") as browser:
        started = await upload(browser, f"guide.{fmt}", data)
        assert started.status_code == 303, started.text
        path = started.headers["location"]
        done = await finished(browser, path)
        assert "Sections traduites : 2 sur 2" in done
        result = await browser.get(f"{path}/download")
    assert result.status_code == 200
    assert f'filename="guide-en.{fmt}"' in result.headers["content-disposition"]
    mark = "⟦English⟧ "
    if fmt == "md":
        text = result.text
        assert text.startswith(f"# {mark}Guide d'accueil\n")
        assert f"- {mark}Créer son compte" in text and "- Lire la charte [skip]" in text
        assert f"| {mark}Badge | {mark}Deux jours |" in text
    elif fmt == "docx":
        document = DocxDocument(io.BytesIO(result.content))
        styles = [(str(p.style.name) if p.style else "", p.text) for p in document.paragraphs]
        assert ("Heading 1", f"{mark}Guide d'accueil") in styles
        assert ("List Bullet", f"{mark}Créer son compte") in styles
        cells = [c.text for row in document.tables[0].rows for c in row.cells]
        assert cells == [f"{mark}Étape", f"{mark}Délai", f"{mark}Badge", f"{mark}Deux jours"]
    else:
        document = load_odt(io.BytesIO(result.content))
        headings = [teletype.extractText(h) for h in document.text.getElementsByType(odf_text.H)]
        assert headings == [f"{mark}Guide d'accueil", f"{mark}Démarches"]
        items = [
            teletype.extractText(i) for i in document.text.getElementsByType(odf_text.ListItem)
        ]
        assert items == [f"{mark}Créer son compte", "Lire la charte [skip]"]
    async with database(site) as session:
        job = await session.scalar(select(TranslationJob))
        assert job is not None and job.status == TranslationStatus.DONE


async def test_bad_files_are_refused_in_plain_words(site: Site) -> None:
    async with site.signed_in("member_a") as browser:
        cases = [
            ("notes.pdf", b"%PDF-1.7", "Seuls les fichiers Markdown (.md), Word (.docx)"),
            ("abime.docx", b"pas un zip", "Ce fichier n'a pas pu être lu"),
            ("vide.md", b"\n\n   \n", "Ce document n'a aucun texte à traduire."),
            ("guide.md", SOURCE.encode(), "Choisissez la langue de traduction."),
        ]
        for name, data, message in cases:
            target = "xx" if name == "guide.md" else "en"
            refused = await upload(browser, name, data, target)
            assert refused.status_code == 400, name
            assert message in html.unescape(refused.text), name
    async with database(site) as session:
        assert await session.scalar(select(TranslationJob.id)) is None


async def test_a_translation_is_its_owners_alone(site: Site) -> None:
    async with site.signed_in("member_a") as browser:
        path = (await upload(browser, "guide.md", SOURCE.encode())).headers["location"]
        await finished(browser, path)
    for who in ("ref_a", "ref_b"):
        async with site.signed_in(who) as browser:
            for suffix in ("", "/progress", "/download", "/delete"):
                assert (await browser.get(f"{path}{suffix}")).status_code == 404, suffix
            listing = await browser.get("/translate")
            assert "guide.md" not in listing.text
            # Deleting someone else's, with a good CSRF token: the same 404 as a wrong id.
            csrf = hidden(listing.text, "csrf_token")
            foreign = await browser.post(f"{path}/delete", data={"csrf_token": csrf})
            unknown = await browser.post(
                f"/translate/{uuid.uuid4()}/delete", data={"csrf_token": csrf}
            )
            assert foreign.status_code == unknown.status_code == 404
            job_id, other = path.rsplit("/", 1)[1], str(unknown.request.url).split("/")[-2]
            assert foreign.text == unknown.text.replace(other, job_id)
    async with database(site) as session:
        assert await session.scalar(select(func.count()).select_from(TranslationJob)) == 1


async def test_a_translation_is_deleted_with_its_files_after_asking(site: Site) -> None:
    async with site.signed_in("member_a") as browser:
        path = (await upload(browser, "guide.md", SOURCE.encode())).headers["location"]
        await finished(browser, path)
        listing = await browser.get("/translate")
        assert f'href="{path}/delete"' in listing.text  # in the list
        assert f'href="{path}/delete"' in (await browser.get(path)).text  # and on its page
        asked = await browser.get(f"{path}/delete")
        assert asked.status_code == 200
        question = html.unescape(asked.text)
        assert "Supprimer la traduction de « guide.md » (Anglais) ?" in question
        assert "pas encore terminée" not in question  # it is finished
        assert f'href="{path}"' in asked.text  # Cancel goes back to it
        # A form without its CSRF token deletes nothing.
        refused = await browser.post(f"{path}/delete", data={})
        assert refused.status_code == 403
        async with database(site) as session:
            assert await session.scalar(select(TranslationJob.id)) is not None
        deleted = await browser.post(
            f"{path}/delete", data={"csrf_token": hidden(asked.text, "csrf_token")}
        )
        assert deleted.status_code == 303
        assert deleted.headers["location"] == "/translate?deleted=1"
        after = html.unescape((await browser.get(deleted.headers["location"])).text)
        assert "La traduction est supprimée." in after and "guide.md" not in after
        for suffix in ("", "/progress", "/download", "/delete"):
            assert (await browser.get(f"{path}{suffix}")).status_code == 404, suffix
        again = await browser.post(
            f"{path}/delete", data={"csrf_token": hidden(after, "csrf_token")}
        )
        assert again.status_code == 404
    # The uploaded file and its translation were columns of the row: nothing is left.
    async with database(site) as session:
        assert await session.scalar(select(func.count()).select_from(TranslationJob)) == 0


@pytest.mark.slow
async def test_the_embedded_model_translates_a_tiny_document(
    tmp_path: Path, sqlite_databases: object, embedded_models: ModelsConfig
) -> None:
    url = sqlite_databases.new()  # type: ignore[attr-defined]
    async with (
        # Two cores shared by several test runs: a whole answer may take minutes.
        run_site(
            tmp_path, url, embedded_models, gateway={"first_byte_timeout": 600, "read_timeout": 600}
        ) as site,
        site.signed_in("member_a") as browser,
    ):
        started = await upload(browser, "mini.md", b"# Bonjour\n\n- Merci beaucoup\n")
        path = started.headers["location"]
        done = await finished(browser, path, attempts=3000)  # a loaded machine
        assert "Sections traduites : 1 sur 1" in done
        text = (await browser.get(f"{path}/download")).text
    lines = text.strip().splitlines()
    # Whatever the tiny model writes, the structure is the document's: a heading, an item.
    assert lines[0].startswith("# ") and lines[-1].startswith("- ")
