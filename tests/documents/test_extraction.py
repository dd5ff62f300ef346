"""Extraction of every supported format from real files: text, pages, heading paths, titles."""

from __future__ import annotations

import datetime as dt
import io
from concurrent.futures import ThreadPoolExecutor

import docx
import openpyxl
import pytest
from docx.enum.style import WD_STYLE_TYPE
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from fpdf import FPDF
from lxml import etree
from odf.opendocument import OpenDocumentText
from odf.text import H, P, SoftPageBreak

from autan.documents.extraction import (
    Block,
    ExtractedDocument,
    ExtractionLimits,
    TooManyPages,
    detect_format,
    extract,
)
from autan.documents.extraction.normalise import metadata_title
from tests.documents import files

ROWS = [
    "Pièce | Délai | Coût",
    "Récépissé | 15 jours | gratuit",
    "Carte de séjour | 4 mois | 225 €",
]


def block_with(document: ExtractedDocument, words: str) -> Block:
    """The first block whose text holds `words`."""
    found = [block for block in document.blocks if words in block.text]
    assert found, f"{words!r} not in {[block.text for block in document.blocks]}"
    return found[0]


def full_text(document: ExtractedDocument) -> str:
    return "\n".join(block.text for block in document.blocks)


def test_pdf_pages_headings_title_and_hyphenation() -> None:
    progress: list[tuple[int, int]] = []
    document = extract(files.make_pdf(), "guide.pdf", progress=lambda d, t: progress.append((d, t)))

    assert (document.format, document.pages, document.ocr_pages) == ("pdf", 3, 0)
    assert document.title == files.TITLE
    assert progress == [(1, 3), (2, 3), (3, 3)]
    intro = block_with(document, "deux mois à compter")
    assert (intro.page, intro.headings, intro.kind) == (1, ("1. Introduction",), "text")
    delays = block_with(document, "silence vaut décision implicite")
    assert (delays.page, delays.headings) == (2, (files.PROCEDURE, files.DELAYS))
    heading = block_with(document, files.DELAYS)
    assert heading.kind == "heading" and heading.headings == (files.PROCEDURE, files.DELAYS)
    # "adminis-" at the end of a line and "tration" on the next are one word again.
    assert "service de l'administration centrale" in block_with(document, "centrale").text
    costs = block_with(document, "timbre fiscal")
    assert (costs.page, costs.headings) == (3, (files.COSTS,))
    assert "Carte de séjour" in full_text(document)


def test_pdf_without_bookmarks_gets_headings_from_type() -> None:
    document = extract(files.make_pdf(bookmarks=False), "guide.pdf")

    delays = block_with(document, "silence vaut décision implicite")
    assert (delays.page, delays.headings) == (2, (files.PROCEDURE, files.DELAYS))
    assert block_with(document, "timbre fiscal").headings == (files.COSTS,)
    # The table's bold header row is not a heading: it is neither larger nor numbered.
    assert block_with(document, "Pièce Délai Coût").kind == "text"


class _Letterhead(FPDF):
    """Every page repeats the prefecture's header and a page number."""

    def header(self) -> None:
        self.set_font("DejaVu", size=9)
        self.cell(0, 8, "Préfecture du Rhône — Guide de l'usager 2024")
        self.ln(14)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("DejaVu", size=9)
        self.cell(0, 8, f"Page {self.page_no()} / {{nb}}", align="C")


def test_pdf_running_headers_and_page_numbers_are_dropped() -> None:
    pdf = _Letterhead(format="A4")
    pdf.add_font("DejaVu", "", files.FONT)
    texts = [files.INTRO, files.DELAYS_TEXT, files.COSTS_TEXT, files.NOTES]
    for n, text in enumerate(texts, start=1):
        pdf.add_page()
        pdf.set_font("DejaVu", size=18)
        pdf.cell(0, 10, f"Chapitre {n}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", size=11)
        pdf.multi_cell(0, 6, f"Contenu du chapitre {n} : {text}")
    document = extract(bytes(pdf.output()), "guide.pdf")

    text = full_text(document)
    assert "Guide de l'usager 2024" not in text and "/ 4" not in text
    assert document.title == "Chapitre 1"  # no metadata: the first heading of page 1
    assert block_with(document, "Contenu du chapitre 3").headings == ("Chapitre 3",)
    assert block_with(document, "Contenu du chapitre 3").page == 3


def test_page_limit() -> None:
    with pytest.raises(TooManyPages, match="The document has 3 pages; the limit is 2."):
        extract(files.make_pdf(), "guide.pdf", ExtractionLimits(max_pages=2))
    with pytest.raises(TooManyPages, match="3 slides"):
        extract(files.make_pptx(), "cours.pptx", ExtractionLimits(max_pages=2))


def test_docx_headings_table_and_title() -> None:
    document = extract(files.make_docx(), "guide.docx")

    assert (document.format, document.pages, document.title) == ("docx", 1, files.TITLE)
    delays = block_with(document, "silence vaut décision")
    assert (delays.page, delays.headings, delays.kind) == (
        None,
        (files.PROCEDURE, files.DELAYS),
        "text",
    )
    table = block_with(document, "Récépissé")
    assert table.kind == "table" and table.text.split("\n") == ROWS
    assert block_with(document, "timbre fiscal").headings == (files.COSTS,)
    # Body order is kept: the table comes after the delays and before the costs.
    texts = [block.text for block in document.blocks]
    assert texts.index(delays.text) < texts.index(table.text) < texts.index(files.COSTS)


def test_docx_pages_from_word_layout_marks() -> None:
    """Word writes where pages broke when it saved; blocks then carry page numbers."""
    document = docx.Document()
    document.add_heading("Première partie", level=1)
    document.add_paragraph("Texte de la première page.")
    second = document.add_paragraph()
    run = second.add_run()
    run._r.append(OxmlElement("w:lastRenderedPageBreak"))
    second.add_run("Texte de la deuxième page.")
    document.add_heading("Titre 2 personnalisé", level=2).style = document.styles["Heading 2"]
    buffer = io.BytesIO()
    document.save(buffer)

    extracted = extract(buffer.getvalue(), "rapport.docx")

    assert extracted.pages == 2
    assert block_with(extracted, "première page").page == 1
    assert block_with(extracted, "deuxième page").page == 2
    assert extracted.title == "Première partie"  # no metadata title: the first H1


def test_docx_french_heading_styles_and_outline_levels() -> None:
    document = docx.Document()
    titre = document.styles.add_style("Titre 1", WD_STYLE_TYPE.PARAGRAPH)
    document.add_paragraph("Objet de la note", style=titre)
    document.add_paragraph("Le service est ouvert le lundi.")
    outlined = document.add_paragraph("Horaires d'été")
    outline = OxmlElement("w:outlineLvl")
    outline.set(qn("w:val"), "1")  # 0-based: a level-2 heading
    outlined._p.get_or_add_pPr().append(outline)
    document.add_paragraph("Fermeture à 16 h en août.")
    buffer = io.BytesIO()
    document.save(buffer)

    extracted = extract(buffer.getvalue(), "note.docx")

    assert block_with(extracted, "lundi").headings == ("Objet de la note",)
    assert block_with(extracted, "août").headings == ("Objet de la note", "Horaires d'été")


W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def test_docx_text_in_content_controls_revisions_and_text_boxes() -> None:
    """Templates put text in content controls; python-docx's .text misses it."""
    document = docx.Document()
    before = document.add_paragraph("Avant le formulaire.")
    control = etree.Element(f"{{{W}}}sdt")
    content = etree.SubElement(control, f"{{{W}}}sdtContent")
    content.append(_paragraph("Nom du demandeur : Jeanne Martin"))
    before._p.addnext(control)
    inserted = document.add_paragraph("Le dossier est ")
    revision = etree.SubElement(inserted._p, f"{{{W}}}ins")
    revision.append(_run("complet"))
    deleted = etree.SubElement(inserted._p, f"{{{W}}}del")
    deleted.append(_run("incomplet", tag="delText"))
    buffer = io.BytesIO()
    document.save(buffer)

    extracted = extract(buffer.getvalue(), "formulaire.docx")

    texts = [block.text for block in extracted.blocks]
    assert texts == [
        "Avant le formulaire.",
        "Nom du demandeur : Jeanne Martin",
        "Le dossier est complet",
    ]


def _run(text: str, tag: str = "t") -> etree._Element:
    run = etree.Element(f"{{{W}}}r")
    etree.SubElement(run, f"{{{W}}}{tag}").text = text
    return run


def _paragraph(text: str) -> etree._Element:
    paragraph = etree.Element(f"{{{W}}}p")
    paragraph.append(_run(text))
    return paragraph


def test_pptx_slides_titles_notes_and_table() -> None:
    progress: list[tuple[int, int]] = []
    document = extract(
        files.make_pptx(), "cours.pptx", progress=lambda d, t: progress.append((d, t))
    )

    assert (document.format, document.pages, document.title) == ("pptx", 3, files.TITLE)
    assert progress[-1] == (3, 3)
    body = block_with(document, "Dépôt du dossier complet")
    assert (body.page, body.headings) == (2, (files.PROCEDURE,))
    assert body.text == "Dépôt du dossier complet\nDélivrance d'un récépissé"
    notes = block_with(document, files.NOTES)
    assert notes.page == 2 and notes.text.startswith("Notes : ")
    table = block_with(document, "Carte de séjour")
    assert (table.page, table.headings, table.kind) == (3, (files.COSTS,), "table")
    assert table.text.split("\n") == ROWS


def test_xlsx_sheets_are_pages_and_headings() -> None:
    document = extract(files.make_xlsx(), "tableau.xlsx")

    assert (document.format, document.pages, document.title) == ("xlsx", 2, files.TITLE)
    table = block_with(document, "Carte de séjour")
    assert (table.page, table.headings, table.kind) == (1, ("Délais",), "table")
    assert table.text.split("\n") == ROWS
    agents = block_with(document, "Agent 1")
    assert (agents.page, agents.headings) == (2, ("Agents",))
    # Floats that are whole numbers read as integers, as the spreadsheet shows them.
    assert "Agent 1 | Accueil des étrangers | 36" in agents.text.split("\n")


def test_xlsx_values_read_as_shown() -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Indicateur", "Taux", "Date", "Montant"])
    sheet.append(["Dossiers complets", 0.25, dt.datetime(2024, 3, 15), 1250.0])
    sheet["B2"].number_format = "0%"
    buffer = io.BytesIO()
    workbook.save(buffer)

    document = extract(buffer.getvalue(), "indicateurs.xlsx")

    assert block_with(document, "Dossiers").text.split("\n")[1] == (
        "Dossiers complets | 25 % | 2024-03-15 | 1250"
    )


def test_xlsx_long_sheet_repeats_its_header() -> None:
    document = extract(files.make_xlsx(rows=450), "tableau.xlsx")

    parts = [block for block in document.blocks if block.page == 2 and block.kind == "table"]
    assert len(parts) == 3
    assert all(part.text.startswith("Nom | Service | Heures\n") for part in parts)
    assert sum(part.text.count("\n") for part in parts) == 450


def test_odt_outline_levels_lists_and_tables() -> None:
    document = extract(files.make_odt(), "guide.odt")

    assert document.format == "odt" and document.title == "1. Introduction"
    delays = block_with(document, "silence vaut décision")
    assert delays.headings == (files.PROCEDURE, files.DELAYS)
    assert block_with(document, "Délivrance du récépissé").text == "- Délivrance du récépissé"
    table = block_with(document, "Carte de séjour")
    assert table.kind == "table" and table.text.split("\n") == ROWS
    assert block_with(document, "timbre fiscal").headings == (files.COSTS,)


def test_odt_pages_from_libreoffice_layout_marks() -> None:
    document = OpenDocumentText()
    body = document.text
    body.addElement(H(outlinelevel=1, text="Première partie"))
    body.addElement(P(text="Texte de la première page."))
    second = P()
    second.addElement(SoftPageBreak())  # LibreOffice marks a page starting here
    second.addText("Texte de la deuxième page.")
    body.addElement(second)
    body.addElement(SoftPageBreak())
    body.addElement(H(outlinelevel=1, text="Seconde partie"))
    body.addElement(P(text="Texte de la troisième page."))
    buffer = io.BytesIO()
    document.write(buffer)

    extracted = extract(buffer.getvalue(), "rapport.odt")

    assert extracted.pages == 3
    assert [(block.page, block.text) for block in extracted.blocks] == [
        (1, "Première partie"),
        (1, "Texte de la première page."),
        (2, "Texte de la deuxième page."),
        (3, "Seconde partie"),
        (3, "Texte de la troisième page."),
    ]


def test_extraction_from_concurrent_threads() -> None:
    """The ingestion worker parses in threads; PDFium is not thread-safe on its own."""
    inputs = [(files.make_pdf(), "guide.pdf"), (files.make_docx(), "guide.docx")] * 4
    expected = [extract(data, name) for data, name in inputs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda item: extract(*item), inputs))
    assert results == expected


def test_ods_sheets_without_expanding_empty_rows() -> None:
    document = extract(files.make_ods(), "tableau.ods")

    assert (document.format, document.pages) == ("ods", 2)
    assert block_with(document, "Carte de séjour").text.split("\n") == ROWS
    agents = block_with(document, "Agent 1")
    assert (agents.page, agents.headings) == (2, ("Agents",))
    assert agents.text == "Nom | Service\nAgent 1 | Accueil des étrangers"


def test_odp_slides_titles_and_notes() -> None:
    document = extract(files.make_odp(), "cours.odp")

    assert (document.format, document.pages, document.title) == ("odp", 2, files.TITLE)
    body = block_with(document, "Dépôt du dossier complet")
    assert (body.page, body.headings) == (2, (files.PROCEDURE,))
    assert block_with(document, files.NOTES).page == 2


def test_markdown_atx_and_setext_headings() -> None:
    source = (
        "# Guide de l'usager\n\nIntroduction générale.\n\n"
        "Démarches\n---------\n\nLes démarches se font *en ligne*.\n\n"
        "### Pièces\n\n- passeport\n- justificatif de domicile\n\n"
        "| Pièce | Délai |\n|---|---|\n| Récépissé | 15 jours |\n\n"
        "## Recours\n\nLe recours est gratuit.\n"
    )
    document = extract(source.encode(), "guide.md")

    assert (document.format, document.title) == ("md", "Guide de l'usager")
    assert block_with(document, "en ligne").text == "Les démarches se font en ligne."
    assert block_with(document, "en ligne").headings == ("Guide de l'usager", "Démarches")
    assert block_with(document, "passeport").text == "- passeport"
    assert block_with(document, "passeport").headings == (
        "Guide de l'usager",
        "Démarches",
        "Pièces",
    )
    table = block_with(document, "Récépissé")
    assert table.kind == "table" and table.text == "Pièce | Délai\nRécépissé | 15 jours"
    assert block_with(document, "gratuit").headings == ("Guide de l'usager", "Recours")


def test_html_keeps_headings_and_drops_scripts_and_menus() -> None:
    page = """<!DOCTYPE html><html><head><title>Titre de séjour</title>
    <script>var secret = "ne pas indexer";</script><style>p { color: red }</style></head>
    <body><nav><a href="/">Accueil</a> <a href="/plan">Plan du site</a></nav>
    <main><h1>Demande de titre de séjour</h1>
    <p>La préfecture instruit la <b>demande</b> en deux mois.</p>
    <h2>Pièces à fournir</h2><ul><li>Passeport</li><li>Justificatif de domicile</li></ul>
    <table><tr><th>Pièce</th><th>Délai</th></tr><tr><td>Récépissé</td><td>15 jours</td></tr></table>
    </main><footer>Mentions légales</footer></body></html>"""
    document = extract(page.encode(), "page.html")

    assert (document.format, document.title) == ("html", "Titre de séjour")
    text = full_text(document)
    for absent in ("ne pas indexer", "color", "Plan du site", "Mentions légales"):
        assert absent not in text
    assert (
        block_with(document, "deux mois").text == "La préfecture instruit la demande en deux mois."
    )
    passport = block_with(document, "Passeport")
    assert passport.headings == ("Demande de titre de séjour", "Pièces à fournir")
    assert block_with(document, "Récépissé").text == "Pièce | Délai\nRécépissé | 15 jours"


def test_csv_semicolons_in_windows_1252() -> None:
    data = "Commune;Délai;Coût\nSaint-Étienne;15 jours;gratuit\nNîmes;1 mois;25 €\n".encode(
        "cp1252"
    )
    document = extract(data, "communes.csv")

    assert document.format == "csv"
    (table,) = document.blocks
    assert table.kind == "table" and table.page is None
    assert table.text.split("\n") == [
        "Commune | Délai | Coût",
        "Saint-Étienne | 15 jours | gratuit",
        "Nîmes | 1 mois | 25 €",
    ]


def test_text_is_normalised() -> None:
    # Decomposed accents (macOS), no-break spaces, NUL and control characters, CRLF.
    raw = (
        "Le de\u0301lai\u00a0: deux   mois.\x00\r\nSuite\x07 du paragraphe.\r\n\r\n\r\n\r\n"
        "La dé\ufb01nition de l\u2019œuvre."
    )
    document = extract(raw.encode("utf-8-sig"), "note.txt")

    assert document.format == "txt"
    assert [block.text for block in document.blocks] == [
        "Le délai : deux mois. Suite du paragraphe.",
        "La définition de l\u2019œuvre.",
    ]
    assert all(block.page is None and block.headings == () for block in document.blocks)


def test_markdown_raw_html_and_html_article() -> None:
    source = '# Note\n\n<div class="alerte">Dossier <b>incomplet</b></div>\n\nSuite.\n'
    document = extract(source.encode(), "note.md")
    assert block_with(document, "incomplet").text == "Dossier incomplet"

    page = (
        "<html><body><div class='menu'><a>Accueil</a></div><article><h2>Actualité</h2>"
        "<p>Nouveaux horaires d'ouverture.</p></article></body></html>"
    )
    extracted = extract(page.encode(), "actualite.htm")
    assert [block.text for block in extracted.blocks] == [
        "Actualité",
        "Nouveaux horaires d'ouverture.",
    ]
    assert extracted.title is None


@pytest.mark.parametrize(
    ("maker", "name", "expected"),
    [
        (files.make_pdf, "x.docx", "pdf"),  # the content decides, not the name
        (files.make_docx, "x.pdf", "docx"),
        (files.make_xlsx, "x", "xlsx"),
        (files.make_pptx, "x.zip", "pptx"),
        (files.make_odt, "x.docx", "odt"),
        (files.make_ods, "x.ods", "ods"),
        (files.make_odp, "x.odp", "odp"),
        (files.make_tiff, "x.png", "tiff"),
        (lambda: b"<!DOCTYPE html><p>Bonjour</p>", "x.txt", "html"),
        (lambda: b"a;b\n1;2\n", "x.csv", "csv"),
        (lambda: b"# Titre\n", "x.md", "md"),
        (lambda: b"# Titre\n", "x.txt", "txt"),
        (lambda: "Texte accentué".encode("cp1252"), "x.docx", "txt"),
    ],
)
def test_detect_format(maker: object, name: str, expected: str) -> None:
    assert callable(maker)
    assert detect_format(maker(), name) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Guide de l'usager", "Guide de l'usager"),
        ("Microsoft Word - Guide de l'usager", "Guide de l'usager"),
        ("Microsoft Word - rapport_final_v3.docx", None),
        ("Présentation PowerPoint", None),
        ("Document1", None),
        ("  ", None),
        (None, None),
    ],
)
def test_placeholder_metadata_titles_are_ignored(value: str | None, expected: str | None) -> None:
    assert metadata_title(value) == expected
