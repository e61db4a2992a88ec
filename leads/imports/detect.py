"""Detect a CSV file's encoding, delimiter and line endings from its first bytes."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from dataclasses import dataclass
from typing import BinaryIO

SAMPLE_BYTES = 256 * 1024
ENCODINGS = ("utf-8", "utf-8-sig", "cp1250", "cp1251", "latin-1")
DELIMITERS = (",", ";", "\t", "|")

# Letters that are common in the languages each single-byte code page serves and
# that the other candidates would decode differently (shared letters such as é,
# á, ó say nothing).
_CP1250_LETTERS = frozenset("ąćęłńśźżčďěňřšťůžőűĺľŕăţşĄĆĘŁŃŚŹŻČĎĚŇŘŠŤŮŽŐŰĹĽŔĂŢŞ")
_LATIN1_LETTERS = frozenset("àâãäåæçèêëìîïñòôõöøùûüýÿßÀÂÃÄÅÆÇÈÊËÌÎÏÑÒÔÕÖØÙÛÜÝ")
# Punctuation real text uses (quotes, dashes, euro, numero): no penalty.
_TEXT_SYMBOLS = frozenset("\u00ab\u00bb\u20ac\u2013\u2014\u201e\u201c\u201d\u2018\u2019\u2022\u2026\u00b0\u2116")
_WORD_RE = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True)
class Dialect:
    encoding: str
    delimiter: str
    line_ending: str  # "CRLF", "LF", "CR" or "" (one line, no ending)


def _score(text: str, encoding: str) -> float:
    """How plausible ``text`` is as ``encoding``'s decoding: letters it explains, minus noise."""
    score = 0.0
    for ch in text:
        code = ord(ch)
        if 0x80 <= code <= 0x9F:
            score -= 5  # C1 control characters: a wrong single-byte guess
        elif code > 0x7F and not ch.isalpha() and ch not in _TEXT_SYMBOLS:
            score -= 1  # stray symbols (¤ ¦ ³ ¹ ¿ ...) in the middle of text
    if encoding == "cp1251":
        for word in _WORD_RE.findall(text):
            cyrillic = sum(1 for ch in word if "\u0400" <= ch <= "\u04ff")
            if cyrillic and cyrillic != len(word):
                score -= 4  # Latin and Cyrillic in one word: not Russian, Ukrainian or Bulgarian
            score += cyrillic
    elif encoding == "cp1250":
        score += sum(1 for ch in text if ch in _CP1250_LETTERS)
    else:
        score += sum(1 for ch in text if ch in _LATIN1_LETTERS) + 0.5  # the usual default wins ties
    return score


def detect_encoding(sample: bytes) -> str:
    """UTF-8 (with or without BOM) when the bytes decode as such, else the likeliest of cp1250, cp1251, Latin-1."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # The sample may end inside a multi-byte character: that alone is no reason to doubt UTF-8.
        if exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"
    high = bytes(b for b in sample if b > 0x7F)
    if not high:
        return "utf-8"
    # Score only the words that hold non-ASCII bytes: the rest decodes the same everywhere.
    context = b" ".join(re.findall(rb"[^\s,;\t|\"']*[\x80-\xff][^\s,;\t|\"']*", sample)[:5000])
    scores = {enc: _score(context.decode(enc, errors="replace"), enc) for enc in ("cp1250", "cp1251", "latin-1")}
    return max(scores, key=lambda enc: scores[enc])


def detect_line_ending(text: str) -> str:
    crlf = text.count("\r\n")
    lf = text.count("\n") - crlf
    cr = text.count("\r") - crlf
    counts = {"CRLF": crlf, "LF": lf, "CR": cr}
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] else ""


def detect_delimiter(text: str) -> str:
    """The delimiter that splits the first lines into the same, largest number of fields."""
    lines = text.splitlines()[:50]
    if len(lines) > 1:
        lines = lines[:-1]  # the sample may cut the last line short
    best, best_key = ",", (0, 0)
    for delimiter in DELIMITERS:
        counts = [len(row) for row in csv.reader(lines, delimiter=delimiter)]
        if not counts:
            continue
        width, frequency = Counter(counts).most_common(1)[0]
        if width < 2:
            continue
        key = (frequency, width)
        if key > best_key:
            best, best_key = delimiter, key
    return best


def sniff(stream: BinaryIO, *, encoding: str | None = None, delimiter: str | None = None) -> Dialect:
    """Read the first bytes of ``stream`` (then rewind it) and detect what was not given."""
    start = stream.tell()
    sample = stream.read(SAMPLE_BYTES)
    stream.seek(start)
    encoding = encoding or detect_encoding(sample)
    text = sample.decode(encoding, errors="replace")
    return Dialect(
        encoding=encoding,
        delimiter=delimiter or detect_delimiter(text),
        line_ending=detect_line_ending(text),
    )


def open_text(stream: BinaryIO, encoding: str) -> io.TextIOWrapper:
    """A text view of ``stream`` for the csv module: strict decoding, newlines left to csv."""
    return io.TextIOWrapper(stream, encoding=encoding, errors="strict", newline="")
