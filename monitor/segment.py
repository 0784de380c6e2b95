"""Split text into paragraphs and sentences, with character offsets.

Paragraphs: blank-line separated blocks when the text has blank lines, otherwise
one paragraph per line (the shape of most scraped news). Sentences: blingfire's
splitter inside each paragraph, then small repairs for its known misses
(abbreviations such as "Gen." and quote attributions such as '?" she asked').
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import blingfire

__all__ = ["Segment", "paragraphs", "sentences"]

_BLANK_RE = re.compile(r"\n[ \t\r\f\v]*\n\s*")
_CLOSERS = (".", "!", "?", ":", ";", '"', "'", "\u201d", "\u2019", ")", "]")
_ABBREV = {
    "gen", "lt", "col", "maj", "capt", "cpt", "sgt", "adm", "cmdr", "mr", "mrs", "ms", "dr", "prof", "sen", "rep",
    "gov", "amb", "st", "no", "nos", "vol", "fig", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept",
    "oct", "nov", "dec", "e.g", "i.e", "vs", "approx", "dept", "corp", "inc", "co", "ltd", "jr", "sr", "u.s", "u.n",
}
_ATTRIBUTION_RE = re.compile(r"^[A-Z][\w.'-]*(?: [A-Z][\w.'-]*){0,3} (said|asked|added|told|wrote|says|asks|adds)\b")


@dataclass(frozen=True)
class Segment:
    start: int
    end: int


def paragraphs(text: str) -> list[Segment]:
    """Paragraph spans (stripped of surrounding whitespace)."""
    if _BLANK_RE.search(text):
        pieces = []
        pos = 0
        for m in _BLANK_RE.finditer(text):
            pieces.append((pos, m.start()))
            pos = m.end()
        pieces.append((pos, len(text)))
    else:
        # One paragraph per line, except that a line which stops mid-sentence
        # (no closing punctuation, next line starts in lower case) is a soft wrap.
        pieces = []
        pos = 0
        for line in text.split("\n"):
            stripped = line.rstrip()
            if pieces and pieces[-1][2] and stripped[:1].islower():
                pieces[-1] = (pieces[-1][0], pos + len(line), not stripped.endswith(_CLOSERS))
            else:
                pieces.append((pos, pos + len(line), bool(stripped) and not stripped.endswith(_CLOSERS)))
            pos += len(line) + 1
        pieces = [(a, b) for a, b, _ in pieces]  # type: ignore[misc]
    out = []
    for a, b in pieces:
        chunk = text[a:b]
        stripped = chunk.strip()
        if not stripped:
            continue
        lead = len(chunk) - len(chunk.lstrip())
        out.append(Segment(a + lead, a + lead + len(stripped)))
    return out


def _should_merge(prev: str, nxt: str) -> bool:
    if not nxt or nxt[0].islower():
        return True
    word = prev.rstrip(".").rsplit(None, 1)[-1].lower() if prev.strip() else ""
    if prev.endswith(".") and word.strip("(") in _ABBREV:
        return True
    if prev[-1:] in "\"'\u201d\u2019" and prev[-2:-1] in "?!" and _ATTRIBUTION_RE.match(nxt):
        return True
    return False


def _locate(flat: str) -> list[tuple[int, int]]:
    """Sentence offsets from blingfire's fast splitter (its own offsets API is slow Python)."""
    try:
        parts = blingfire.text_to_sentences(flat).split("\n")
    except Exception:  # pragma: no cover - blingfire failure: keep the paragraph whole
        return [(0, len(flat))]
    out: list[tuple[int, int]] = []
    pos = 0
    for part in parts:
        part = part.strip()
        if not part:
            continue
        start = flat.find(part, pos)
        if start < 0:  # blingfire changed the characters: fall back to the paragraph rest
            return out + [(pos, len(flat))] if pos < len(flat) else out
        out.append((start, start + len(part)))
        pos = start + len(part)
    return out or [(0, len(flat))]


def sentences(text: str, para: Segment) -> list[Segment]:
    """Sentence spans inside one paragraph (offsets into ``text``)."""
    chunk = text[para.start:para.end]
    # blingfire treats a newline as a hard break; a paragraph's inner newlines are soft wraps.
    flat = chunk.replace("\n", " ").replace("\r", " ")
    offsets = _locate(flat)
    spans: list[list[int]] = []
    for a, b in offsets:
        if spans and _should_merge(flat[spans[-1][0]:spans[-1][1]], flat[a:b]):
            spans[-1][1] = b
        else:
            spans.append([a, b])
    if not spans:
        spans = [[0, len(flat)]]
    return [Segment(para.start + a, para.start + b) for a, b in spans]
