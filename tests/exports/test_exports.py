"""Exports of a conversation, one answer and a deep-research report as Markdown, DOCX and
ODT: the files are opened with python-docx and odfpy and their structure is checked
(headings, list items, table cells, links), on both engines; another person's ids are 404."""

from __future__ import annotations

import io
import uuid

import pytest
from docx import Document as DocxDocument
from odf import table as odf_table
from odf import teletype
from odf import text as odf_text
from odf.opendocument import load as load_odt
from sqlalchemy import select

from autan.chat.models import Message, MessageRole
from autan.exports.blocks import parse, to_markdown
from autan.exports.writers import docx_bytes, odt_bytes
from autan.research.models import ResearchJob, ResearchStatus
from tests.exports.conftest import ANSWER, seeded
from tests.support.library import database, user_by_email
from tests.support.web import PEOPLE, Site


def docx_structure(data: bytes) -> dict[str, object]:
    document = DocxDocument(io.BytesIO(data))
    paragraphs = [(str(p.style.name) if p.style else "", p.text) for p in document.paragraphs]
    return {
        "headings": [t for s, t in paragraphs if s.startswith("Heading")],
        "items": [(s, t) for s, t in paragraphs if s.startswith("List")],
        "cells": [[c.text for c in row.cells] for t in document.tables for row in t.rows],
        "links": sorted(r.target_ref for r in document.part.rels.values() if r.is_external),
    }


def odt_structure(data: bytes) -> dict[str, object]:
    document = load_odt(io.BytesIO(data))
    body = document.text
    return {
        "headings": [teletype.extractText(h) for h in body.getElementsByType(odf_text.H)],
        "items": [
            teletype.extractText(i)
            for i in body.getElementsByType(odf_text.ListItem)
            if i.getElementsByType(odf_text.P) and not i.getElementsByType(odf_text.List)
        ],
        "nested": len(
            [
                lst
                for lst in body.getElementsByType(odf_text.List)
                if lst.parentNode.qname == odf_text.ListItem().qname
            ]
        ),
        "cells": [
            [teletype.extractText(c) for c in row.getElementsByType(odf_table.TableCell)]
            for row in body.getElementsByType(odf_table.TableRow)
        ],
        "links": sorted(str(a.getAttribute("href")) for a in body.getElementsByType(odf_text.A)),
    }


def test_markdown_blocks_survive_a_round_trip() -> None:
    blocks = parse(ANSWER)
    kinds = [b.kind for b in blocks]
    assert kinds.count("heading") == 1 and kinds.count("table") == 1
    assert [b.level for b in blocks if b.kind == "item"] == [1, 1, 2, 2]
    assert [b.kind for b in parse(to_markdown(blocks))] == kinds


def test_docx_and_odt_keep_headings_lists_tables_and_links() -> None:
    word = docx_structure(docx_bytes(ANSWER))
    assert word["headings"] == ["Démarches"]
    assert ("List Number", "Faire une pré-demande en ligne") in word["items"]  # type: ignore[operator]
    assert ("List Bullet 2", "apporter une photo") in word["items"]  # type: ignore[operator]
    assert word["cells"] == [["Pièce", "Coût"], ["Timbre fiscal", "86 €"], ["Photo", "5 €"]]
    assert word["links"] == ["https://www.service-public.fr/passeport"]
    odt = odt_structure(odt_bytes(ANSWER))
    assert odt["headings"] == ["Démarches"]
    assert "apporter le timbre fiscal" in odt["items"]  # type: ignore[operator]
    assert odt["nested"] == 1
    assert odt["cells"] == [["Pièce", "Coût"], ["Timbre fiscal", "86 €"], ["Photo", "5 €"]]
    assert odt["links"] == ["https://www.service-public.fr/passeport"]


@pytest.mark.parametrize("fmt", ["md", "docx", "odt"])
async def test_a_conversation_and_an_answer_export_with_their_sources(site: Site, fmt: str) -> None:
    conversation = await seeded(site)
    async with database(site) as session:
        answer = await session.scalar(
            select(Message).where(
                Message.conversation_id == conversation.id, Message.role == MessageRole.ASSISTANT
            )
        )
    assert answer is not None
    async with site.signed_in("member_a") as browser:
        whole = await browser.get(f"/c/{conversation.id}/export.{fmt}")
        one = await browser.get(f"/messages/{answer.id}/export.{fmt}")
    for response in (whole, one):
        assert response.status_code == 200, response.text
        assert f'.{fmt}"' in response.headers["content-disposition"]
    source_link = "https://www.service-public.fr/particuliers/vosdroits/F14929"
    if fmt == "md":
        text = whole.text
        assert text.startswith("# Passeport à Lyon")
        assert "### Démarches" in text  # the answer's heading under the message's
        assert f"1. [Passeport | service-public.fr]({source_link})" in text
        assert "2. Guide interne.pdf, p. 3" in one.text
        return
    structure = docx_structure if fmt == "docx" else odt_structure
    whole_parts, one_parts = structure(whole.content), structure(one.content)
    assert "Sources" in whole_parts["headings"]  # type: ignore[operator]
    assert "Vous — " in " ".join(whole_parts["headings"])  # type: ignore[arg-type]
    assert one_parts["headings"][:2] == ["Passeport à Lyon", "Démarches"]  # type: ignore[index]
    for parts in (whole_parts, one_parts):
        assert source_link in parts["links"]  # type: ignore[operator]
        assert ["Timbre fiscal", "86 €"] in parts["cells"]  # type: ignore[operator]


async def test_a_research_report_exports_as_odt(site: Site) -> None:
    report = (
        "# Recherche approfondie\n\n## Synthèse\n\n- Un point [1]\n\n"
        "## Sources\n\n1. [Page](https://exemple.fr/a) — exemple.fr\n"
    )
    async with database(site) as session:
        user = await user_by_email(session, PEOPLE["member_a"][0])
        job = ResearchJob(
            user_id=user.id,
            org_id=user.org_id,
            question="Q ?",
            model="petit",
            status=ResearchStatus.DONE,
            report=report,
        )
        session.add(job)
        await session.commit()
    async with site.signed_in("member_a") as browser:
        odt = await browser.get(f"/research/{job.id}/report.odt")
        word = await browser.get(f"/research/{job.id}/report.docx")
    parts = odt_structure(odt.content)
    assert parts["headings"] == ["Recherche approfondie", "Synthèse", "Sources"]
    assert parts["links"] == ["https://exemple.fr/a"]
    assert docx_structure(word.content)["links"] == ["https://exemple.fr/a"]


async def test_nobody_else_exports_a_conversation_answer_or_report(site: Site) -> None:
    conversation = await seeded(site)
    async with database(site) as session:
        answer = await session.scalar(
            select(Message).where(Message.conversation_id == conversation.id)
        )
    assert answer is not None
    async with site.signed_in("ref_a") as browser:
        for fmt in ("md", "docx", "odt"):
            assert (await browser.get(f"/c/{conversation.id}/export.{fmt}")).status_code == 404
            assert (await browser.get(f"/messages/{answer.id}/export.{fmt}")).status_code == 404
        assert (await browser.get(f"/research/{uuid.uuid4()}/report.odt")).status_code == 404
        assert (await browser.get(f"/c/{conversation.id}/export.pdf")).status_code == 400
