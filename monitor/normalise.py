"""Text normalisation for matching, keeping offsets into the original text.

Matching runs on text that is NFKC-normalised, case-folded with diacritics
removed (only for case-insensitive matching), with curly quotes and
apostrophes folded to ASCII, Unicode dashes folded to ``-``, invisible characters
dropped and every run of whitespace (line breaks included) collapsed to one
space. :class:`NormText` maps every normalised character back to the span of the
original text it came from, so evidence and spans always quote the source.
"""

from __future__ import annotations

import bisect
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


class _CollapsedText(NormText):
    """Normalised view of text whose only change is collapsing whitespace runs (plus ASCII lowercasing).

    Offsets are computed from the list of collapsed runs instead of per-character tables, which
    keeps building it cheap for the common all-ASCII article.
    """

    def __init__(self, text: str, original: str, runs: list[tuple[int, int, int]]) -> None:
        object.__setattr__(self, "text", text)
        object.__setattr__(self, "original", original)
        object.__setattr__(self, "_runs", runs)  # (norm position of the space, orig start, orig end)
        object.__setattr__(self, "_positions", [r[0] for r in runs])
        object.__setattr__(self, "_tables", None)

    def _start(self, j: int) -> int:
        k = bisect.bisect_right(self._positions, j) - 1
        if k < 0:
            return j
        pos, a, b = self._runs[k]
        return a if j == pos else b + (j - pos - 1)

    def _end(self, j: int) -> int:
        k = bisect.bisect_right(self._positions, j) - 1
        if k >= 0 and self._runs[k][0] == j:
            return self._runs[k][2]
        return self._start(j) + 1

    def span(self, start: int, end: int) -> tuple[int, int]:
        if start >= end:
            pos = self._start(start) if start < len(self.text) else len(self.original)
            return pos, pos
        return self._start(start), self._end(end - 1)

    def _build(self) -> tuple[list[int], list[int]]:
        if self._tables is None:
            n = len(self.text)
            object.__setattr__(self, "_tables", ([self._start(j) for j in range(n)], [self._end(j) for j in range(n)]))
        return self._tables

    @property  # type: ignore[override]
    def starts(self) -> list[int]:
        return self._build()[0]

    @property  # type: ignore[override]
    def ends(self) -> list[int]:
        return self._build()[1]


def _ascii_fast(text: str, casefold: bool) -> NormText:
    src = text.lower() if casefold else text
    parts: list[str] = []
    runs: list[tuple[int, int, int]] = []
    pos = 0
    npos = 0
    for m in _WS_RE.finditer(src):
        a, b = m.span()
        parts.append(src[pos:a])
        npos += a - pos
        parts.append(" ")
        runs.append((npos, a, b))
        npos += 1
        pos = b
    parts.append(src[pos:])
    return _CollapsedText("".join(parts), text, runs)


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
