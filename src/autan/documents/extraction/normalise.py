"""Text normalisation shared by every format: one form of each character and of spacing."""

from __future__ import annotations

import re
import unicodedata

# Control characters (C0, DEL, C1) except tab and newline, the soft hyphen, which only
# marks where a word may be cut and must not split words in search, and the noncharacters
# U+FFFE/U+FFFF.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\ufeff\u200b\ufffe\uffff]")
# Every horizontal space, including no-break and narrow no-break spaces (French puts them
# before ':' and '?'), becomes one plain space.
_SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_LINE_ENDS = re.compile(r"\r\n?|[\u2028\u2029\x85]")
_TRAILING = re.compile(r" *\n *")
_BLANK_LINES = re.compile(r"\n{3,}")
# "adminis-\ntration": a word cut at the end of a line. Only joined when the next line
# goes on in lower case, so "Jean-\nPierre" and list dashes are kept.
_HYPHENATED = re.compile(r"(\w)[-\u2010\u2011]\r?\n(?=[a-zà-öø-ÿœ])")


# Typographic ligatures PDFs carry as single characters ("déﬁnition"): spelled out, or
# search would not find the word. "œ" and "æ" are letters of French, not ligatures here.
_LIGATURES = str.maketrans(
    {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl",
     "\ufb05": "st", "\ufb06": "st"}
)  # fmt: skip


def normalise(text: str) -> str:
    """NFC, plain spaces, no control characters, paragraph breaks kept (at most one blank line)."""
    text = unicodedata.normalize("NFC", text).translate(_LIGATURES)
    text = _LINE_ENDS.sub("\n", text)
    text = _CONTROL.sub("", text)
    text = _SPACES.sub(" ", text)
    text = _TRAILING.sub("\n", text)
    text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


def inline(text: str) -> str:
    """Normalised text on one line (headings, table cells, titles)."""
    return " ".join(normalise(text).split())


# PDFium reports a hyphen that ends a line as U+FFFE, with the line break removed.
_PDFIUM_HYPHEN = re.compile(r"\ufffe(?![a-zà-öø-ÿœ])")


def join_hyphenated(text: str) -> str:
    """Join words that a PDF's line layout cut with a hyphen ("adminis-\ntration")."""
    # Before an upper-case letter the hyphen is real ("Jean-Pierre"); otherwise the
    # U+FFFE marker is dropped by normalise(), which must therefore run after this.
    text = _PDFIUM_HYPHEN.sub("-", text)
    return _HYPHENATED.sub(r"\1", text)


def paragraphs(text: str) -> list[str]:
    """Split normalised text on blank lines; single line breaks inside a paragraph become spaces."""
    out: list[str] = []
    for part in text.split("\n\n"):
        joined = " ".join(line for line in part.split("\n") if line)
        if joined:
            out.append(joined)
    return out


def table_row(cells: list[str]) -> str:
    """One table row as ``A | B | C``, trailing empty cells dropped."""
    values = [inline(cell) for cell in cells]
    while values and not values[-1]:
        values.pop()
    return " | ".join(values)


def is_blank(text: str) -> bool:
    """True when the text holds no letter or digit (only spaces and punctuation)."""
    return not any(char.isalnum() for char in text)


# Titles that office software fills in by itself: placeholders, and file names.
_APP_PREFIX = re.compile(r"^Microsoft (?:Word|PowerPoint|Excel) - ", re.IGNORECASE)
_FILE_NAME = re.compile(r"\.(?:docx?|pdf|odt|ods|odp|pptx?|xlsx?|rtf|txt|indd|tmp)$", re.IGNORECASE)
_PLACEHOLDER = re.compile(
    r"^(?:untitled|sans titre|titre|title|document|doc|diapositive|slide|"
    r"présentation powerpoint|powerpoint presentation|presentation|présentation)\s*\d*$",
    re.IGNORECASE,
)


def metadata_title(value: str | None) -> str | None:
    """A title from a file's metadata, unless it is a placeholder or a file name."""
    title = _APP_PREFIX.sub("", inline(value or ""))
    if not title or _FILE_NAME.search(title) or _PLACEHOLDER.match(title) or is_blank(title):
        return None
    return title
