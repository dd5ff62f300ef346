"""Real test documents, written by the libraries people's software uses (no fixtures on disk).

Every generator writes French text with accents, headings and a table, so that a test can
check the text, the heading path and the page of what comes back. Generators are cached:
they return immutable bytes, and several tests read the same file.
"""

from __future__ import annotations

import functools
import io
import random
import zipfile

import docx
import openpyxl
import pptx
from fpdf import FPDF
from odf.draw import Frame, Page, TextBox
from odf.opendocument import (
    OpenDocument,
    OpenDocumentPresentation,
    OpenDocumentSpreadsheet,
    OpenDocumentText,
)
from odf.presentation import Notes
from odf.style import MasterPage, PageLayout, Style
from odf.table import Table, TableCell, TableColumn, TableRow
from odf.text import H, List, ListItem, P
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONTS = "/usr/share/fonts/truetype/dejavu"
FONT = f"{FONTS}/DejaVuSans.ttf"
FONT_BOLD = f"{FONTS}/DejaVuSans-Bold.ttf"

TITLE = "Guide des démarches en préfecture"
INTRO = (
    "La préfecture instruit les demandes de titre de séjour. Le délai de réponse est de deux "
    "mois à compter de la réception du dossier complet."
)
PROCEDURE = "2. Procédure"
DELAYS = "2.1 Délais"
DELAYS_TEXT = (
    "Après le dépôt, un récépissé est délivré. L'administration dispose d'un délai de quatre "
    "mois pour répondre ; son silence vaut décision implicite de rejet."
)
COSTS = "3. Coût"
COSTS_TEXT = "Le timbre fiscal coûte 225 € ; il s'achète en ligne ou chez un buraliste."
TABLE = [
    ["Pièce", "Délai", "Coût"],
    ["Récépissé", "15 jours", "gratuit"],
    ["Carte de séjour", "4 mois", "225 €"],
]
NOTES = "Rappeler aux usagers de vérifier l'échéance de leur récépissé."


# --- PDF ------------------------------------------------------------------------------


def _pdf() -> FPDF:
    pdf = FPDF(format="A4")
    pdf.add_font("DejaVu", "", FONT)
    pdf.add_font("DejaVu", "B", FONT_BOLD)
    pdf.set_font("DejaVu", size=11)
    pdf.set_auto_page_break(True, margin=15)
    return pdf


def _pdf_heading(pdf: FPDF, text: str, level: int) -> None:
    pdf.start_section(text, level=level)
    pdf.set_font("DejaVu", "B", 16 - 2 * level)
    pdf.multi_cell(0, 9, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 11)


def _pdf_paragraph(pdf: FPDF, text: str) -> None:
    pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)


@functools.cache
def make_pdf(*, bookmarks: bool = True, password: str | None = None) -> bytes:
    """Three pages: introduction (p. 1), procedure and delays (p. 2), costs and a table (p. 3)."""
    pdf = _pdf()
    pdf.set_title(TITLE)
    heading = _pdf_heading if bookmarks else _plain_heading
    pdf.add_page()
    heading(pdf, "1. Introduction", 0)
    _pdf_paragraph(pdf, INTRO)
    pdf.add_page()
    heading(pdf, PROCEDURE, 0)
    _pdf_paragraph(pdf, "La procédure se déroule en trois étapes successives.")
    heading(pdf, DELAYS, 1)
    _pdf_paragraph(pdf, DELAYS_TEXT)
    # A word cut at the end of a line, as typesetting does.
    _pdf_paragraph(pdf, "Le dossier est transmis au service de l'adminis-\ntration centrale.")
    pdf.add_page()
    heading(pdf, COSTS, 0)
    _pdf_paragraph(pdf, COSTS_TEXT)
    with pdf.table() as table:
        for row in TABLE:
            cells = table.row()
            for value in row:
                cells.cell(value)
    if password is not None:
        pdf.set_encryption(owner_password="propriétaire", user_password=password)
    return bytes(pdf.output())


def _plain_heading(pdf: FPDF, text: str, level: int) -> None:
    pdf.set_font("DejaVu", "B", 16 - 2 * level)
    pdf.multi_cell(0, 9, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 11)


@functools.cache
def make_long_pdf(pages: int, paragraphs: list[str]) -> bytes:
    """A text PDF of at least `pages` pages cycling through `paragraphs`, a bookmark per page."""
    pdf = _pdf()
    pdf.set_title("Fiches pratiques")
    index = 0
    while pdf.page_no() < pages:
        pdf.add_page()
        _pdf_heading(pdf, f"Fiche {pdf.page_no()}", 0)
        start = pdf.page_no()
        while pdf.page_no() == start:
            _pdf_paragraph(pdf, paragraphs[index % len(paragraphs)])
            index += 1
    return bytes(pdf.output())


# --- images and scans -------------------------------------------------------------------

SCAN_LINES = [
    "Préfecture de la Haute-Garonne",
    "Direction des migrations et de l'intégration",
    "",
    "Le récépissé de demande de titre de séjour",
    "est délivré après le dépôt du dossier complet.",
    "La décision est notifiée par courrier à l'adresse",
    "indiquée par le demandeur.",
]


def text_image(lines: list[str], *, size: int = 34, width: int = 1400) -> Image.Image:
    """Black French text on white, as a 200 dpi scan of a letter would show it."""
    font = ImageFont.truetype(FONT, size)
    height = 160 + len(lines) * int(size * 1.6)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    for index, line in enumerate(lines):
        draw.text((90, 80 + index * int(size * 1.6)), line, font=font, fill=0)
    return image


@functools.cache
def make_scanned_pdf(pages: int = 1) -> bytes:
    """An image-only PDF (no text layer), as a scanner writes it."""
    images = [text_image(SCAN_LINES).convert("RGB") for _ in range(pages)]
    buffer = io.BytesIO()
    images[0].save(buffer, "PDF", resolution=200.0, save_all=True, append_images=images[1:])
    return buffer.getvalue()


@functools.cache
def make_photo(fmt: str = "PNG", *, angle: float = 2.5, seed: int = 7) -> bytes:
    """A phone "photo" of a page: greyish paper, slightly turned, blurred, noisy."""
    image = text_image(SCAN_LINES, size=38).point(lambda v: 40 + v * 0.75)
    image = image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=230)
    image = image.filter(ImageFilter.GaussianBlur(0.8))
    rng = random.Random(seed)
    pixels = image.load()
    assert pixels is not None
    for _ in range(image.width * image.height // 40):
        x, y = rng.randrange(image.width), rng.randrange(image.height)
        pixels[x, y] = rng.randrange(256)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return buffer.getvalue()


@functools.cache
def make_tiff(pages: int = 2) -> bytes:
    """A multi-page TIFF, each page a different letter."""
    frames = [text_image([f"Page {n} : courrier de la préfecture"]) for n in range(1, pages + 1)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "TIFF", save_all=True, append_images=frames[1:], dpi=(200, 200))
    return buffer.getvalue()


# --- Office Open XML -------------------------------------------------------------------


@functools.cache
def make_docx() -> bytes:
    """Title, two levels of headings (styles "Heading N"), paragraphs and a table."""
    document = docx.Document()
    document.core_properties.title = TITLE
    document.add_heading("1. Introduction", level=1)
    document.add_paragraph(INTRO)
    document.add_heading(PROCEDURE, level=1)
    document.add_heading(DELAYS, level=2)
    document.add_paragraph(DELAYS_TEXT)
    table = document.add_table(rows=len(TABLE), cols=len(TABLE[0]))
    for row, values in zip(table.rows, TABLE, strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    document.add_heading(COSTS, level=1)
    document.add_paragraph(COSTS_TEXT)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


@functools.cache
def make_pptx() -> bytes:
    """Three slides: title slide, a bulleted slide with notes, a slide with a table."""
    presentation = pptx.Presentation()
    presentation.core_properties.title = TITLE
    slide = presentation.slides.add_slide(presentation.slide_layouts[0])
    slide.shapes.title.text = TITLE
    slide.placeholders[1].text = "Service des étrangers"
    slide = presentation.slides.add_slide(presentation.slide_layouts[1])
    slide.shapes.title.text = PROCEDURE
    body = slide.placeholders[1].text_frame
    body.text = "Dépôt du dossier complet"
    body.add_paragraph().text = "Délivrance d'un récépissé"
    slide.notes_slide.notes_text_frame.text = NOTES
    slide = presentation.slides.add_slide(presentation.slide_layouts[5])
    slide.shapes.title.text = COSTS
    inch = 914400
    shape = slide.shapes.add_table(len(TABLE), len(TABLE[0]), inch, 2 * inch, 6 * inch, inch)
    for r, values in enumerate(TABLE):
        for c, value in enumerate(values):
            shape.table.cell(r, c).text = value
    buffer = io.BytesIO()
    presentation.save(buffer)
    return buffer.getvalue()


@functools.cache
def make_xlsx(rows: int = 3) -> bytes:
    """Two sheets: "Délais" (the table) and "Agents" (`rows` data rows)."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Délais"
    for values in TABLE:
        sheet.append(values)
    agents = workbook.create_sheet("Agents")
    agents.append(["Nom", "Service", "Heures"])
    for n in range(rows):
        agents.append([f"Agent {n}", "Accueil des étrangers", 35.0 + n % 3])
    workbook.properties.title = TITLE
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- OpenDocument ----------------------------------------------------------------------


def _save(document: OpenDocument) -> bytes:
    buffer = io.BytesIO()
    document.write(buffer)
    return buffer.getvalue()


def _odf_table(name: str) -> Table:
    table = Table(name=name)
    table.addElement(TableColumn(numbercolumnsrepeated=len(TABLE[0])))
    for values in TABLE:
        row = TableRow()
        for value in values:
            cell = TableCell(valuetype="string")
            cell.addElement(P(text=value))
            row.addElement(cell)
        table.addElement(row)
    return table


@functools.cache
def make_odt() -> bytes:
    """Headings with outline levels, paragraphs, a list and a table."""
    document = OpenDocumentText()
    body = document.text
    body.addElement(H(outlinelevel=1, text="1. Introduction"))
    body.addElement(P(text=INTRO))
    body.addElement(H(outlinelevel=1, text=PROCEDURE))
    body.addElement(H(outlinelevel=2, text=DELAYS))
    body.addElement(P(text=DELAYS_TEXT))
    items = List()
    for text in ("Dépôt du dossier", "Délivrance du récépissé"):
        item = ListItem()
        item.addElement(P(text=text))
        items.addElement(item)
    body.addElement(items)
    body.addElement(_odf_table("Délais"))
    body.addElement(H(outlinelevel=1, text=COSTS))
    body.addElement(P(text=COSTS_TEXT))
    return _save(document)


@functools.cache
def make_ods() -> bytes:
    """Two sheets, the second with empty repeated rows as LibreOffice writes them."""
    document = OpenDocumentSpreadsheet()
    document.spreadsheet.addElement(_odf_table("Délais"))
    agents = Table(name="Agents")
    for values in (["Nom", "Service"], ["Agent 1", "Accueil des étrangers"]):
        row = TableRow()
        for value in values:
            cell = TableCell(valuetype="string")
            cell.addElement(P(text=value))
            row.addElement(cell)
        agents.addElement(row)
    empty = TableRow(numberrowsrepeated=1048000)
    empty.addElement(TableCell(numbercolumnsrepeated=1024))
    agents.addElement(empty)
    document.spreadsheet.addElement(agents)
    return _save(document)


@functools.cache
def make_odp() -> bytes:
    """Two slides with title frames, body text and speaker notes on the second."""
    document = OpenDocumentPresentation()
    layout = PageLayout(name="Mise en page")
    document.automaticstyles.addElement(layout)
    master = MasterPage(name="Standard", pagelayoutname=layout)
    document.masterstyles.addElement(master)
    style = Style(name="Cadre", family="presentation")
    document.styles.addElement(style)
    for title, body, notes in (
        (TITLE, "Service des étrangers", None),
        (PROCEDURE, "Dépôt du dossier complet", NOTES),
    ):
        page = Page(masterpagename=master)
        document.presentation.addElement(page)
        for kind, text in (("title", title), ("outline", body)):
            frame = Frame(stylename=style, width="20cm", height="3cm", x="1cm", y="1cm")
            frame.setAttribute("class", kind)
            box = TextBox()
            box.addElement(P(text=text))
            frame.addElement(box)
            page.addElement(frame)
        if notes:
            note = Notes()
            frame = Frame(stylename=style, width="20cm", height="3cm", x="1cm", y="20cm")
            frame.setAttribute("class", "notes")
            box = TextBox()
            box.addElement(P(text=notes))
            frame.addElement(box)
            note.addElement(frame)
            page.addElement(note)
    return _save(document)


# --- broken and odd files ---------------------------------------------------------------


def random_bytes(size: int = 4096, seed: int = 1) -> bytes:
    """Bytes that are no format at all."""
    return random.Random(seed).randbytes(size)


def plain_zip() -> bytes:
    """A ZIP archive of two text files (not an office document)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("lisez-moi.txt", "Bonjour à tous")
        archive.writestr("données.csv", "a;b\n1;2\n")
    return buffer.getvalue()


@functools.cache
def zip_bomb(member_mb: int = 50) -> bytes:
    """An OOXML-looking archive whose document.xml unpacks to `member_mb` MB of zeros."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            chunk = b"\0" * (1024 * 1024)
            for _ in range(member_mb):
                member.write(chunk)
    return buffer.getvalue()
