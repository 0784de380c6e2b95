"""Text normalisation for matching, keeping offsets into the original text.

Matching runs on text that is NFKC-normalised, case-folded with diacritics
removed (only for case-insensitive matching), with curly quotes and
apostrophes folded to ASCII, Unicode dashes folded to ``-``, invisible characters
dropped and every run of whitespace (line breaks included) collapsed to one
space. :class:`NormText` maps every normalised character back to the span of the
original text it came from, so evidence and spans always quote the source.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["NormText", "normalise", "normalise_term", "FOLD_TABLE"]

_QUOTES = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'", "\u0060": "'",
    "\u02bc": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"',
    "\u00bb": '"',
}
_DASHES = {c: "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"}
_DROP = {c: "" for c in "\u00ad\u200b\u200c\u200d\u2060\ufeff"}
FOLD_TABLE = str.maketrans({**_QUOTES, **_DASHES, **_DROP})
_WS_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class NormText:
    """Normalised text plus, for each of its characters, the original span."""

    text: str
    starts: list[int]
    ends: list[int]
    original: str

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original ``(start, end)`` of the normalised slice ``text[start:end]``."""
        if start >= end:
            pos = self.starts[start] if start < len(self.starts) else len(self.original)
            return pos, pos
        return self.starts[start], self.ends[end - 1]

    def original_slice(self, start: int, end: int) -> str:
        a, b = self.span(start, end)
        return self.original[a:b]

    def to_norm(self, orig_pos: int) -> int:
        """First normalised index whose source starts at or after ``orig_pos``."""
        lo, hi = 0, len(self.starts)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.starts[mid] < orig_pos:
                lo = mid + 1
            else:
                hi = mid
        return lo


def _ascii_fast(text: str, casefold: bool) -> NormText:
    src = text.lower() if casefold else text
    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    for m in _WS_RE.finditer(src):
        a, b = m.span()
        parts.append(src[pos:a])
        starts.extend(range(pos, a))
        ends.extend(range(pos + 1, a + 1))
        parts.append(" ")
        starts.append(a)
        ends.append(b)
        pos = b
    parts.append(src[pos:])
    starts.extend(range(pos, len(src)))
    ends.extend(range(pos + 1, len(src) + 1))
    return NormText("".join(parts), starts, ends, text)


def normalise(text: str, casefold: bool = True) -> NormText:
    """Normalise ``text`` for matching (see module docs); offsets map back to ``text``."""
    if text.isascii():
        return _ascii_fast(text, casefold)
    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    n = len(text)
    i = 0
    in_space = False
    while i < n:
        j = i + 1
        while j < n and unicodedata.combining(text[j]):
            j += 1
        chunk = text[i:j].translate(FOLD_TABLE)
        if chunk:
            chunk = unicodedata.normalize("NFKC", chunk)
            if casefold:
                # Case-fold, then drop diacritics: "Côte" and "cote", "İran" and "iran" match alike.
                chunk = unicodedata.normalize("NFKD", chunk.casefold())
                chunk = "".join(c for c in chunk if not unicodedata.combining(c))
        for ch in chunk:
            if ch.isspace():
                if in_space:
                    ends[-1] = j
                    continue
                in_space = True
                ch = " "
            else:
                in_space = False
            parts.append(ch)
            starts.append(i)
            ends.append(j)
        i = j
    return NormText("".join(parts), starts, ends, text)


def normalise_term(term: str, casefold: bool = True) -> str:
    """Normalise a vocabulary term exactly as text is normalised, trimmed."""
    return normalise(term, casefold).text.strip()
