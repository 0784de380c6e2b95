"""A document ready for matching: title and body, normalised views, units, words."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from .normalise import NormText, normalise
from .segment import Segment, paragraphs, sentences

__all__ = ["Document", "make_document", "Unit"]

_WORD_RE = re.compile(r"\w+")


@dataclass(frozen=True)
class Unit:
    """A scope unit (sentence, paragraph, window or document) in document offsets."""

    index: int
    kind: str
    start: int
    end: int


@dataclass
class Document:
    """``text`` is the title, a blank line, then the body; ``body_offset`` is where the body starts."""

    text: str
    body_offset: int
    folded: NormText
    cased: NormText
    paragraphs: list[Segment]
    sentences: list[Segment]
    word_starts: list[int]
    published_at: str = ""
    _units: dict[str, list[Unit]] = field(default_factory=dict)

    def word_index(self, offset: int) -> int:
        """Index of the word at or after ``offset``."""
        return bisect.bisect_left(self.word_starts, offset)

    def units(self, kind: str) -> list[Unit]:
        if kind not in self._units:
            if kind == "sentence":
                segs = self.sentences
            elif kind == "paragraph":
                segs = self.paragraphs
            else:
                segs = [Segment(0, len(self.text))]
            self._units[kind] = [Unit(i, kind, s.start, s.end) for i, s in enumerate(segs)]
        return self._units[kind]

    def field_span(self, start: int, end: int) -> tuple[str, int, int]:
        """``('title'|'text', start, end)`` relative to the stored article field."""
        if start >= self.body_offset:
            return "text", start - self.body_offset, end - self.body_offset
        return "title", start, min(end, self.body_offset)

    def sentence_at(self, offset: int) -> Segment:
        starts = [s.start for s in self.sentences]
        i = max(0, bisect.bisect_right(starts, offset) - 1)
        return self.sentences[i] if self.sentences else Segment(0, len(self.text))


def make_document(body: str, title: str = "", published_at: str = "") -> Document:
    """Build a :class:`Document`; the title is its own paragraph and sentence."""
    title = " ".join(title.split())
    text = f"{title}\n\n{body}" if title else body
    offset = len(title) + 2 if title else 0
    paras = [Segment(0, len(title))] if title else []
    paras += [Segment(p.start + offset, p.end + offset) for p in paragraphs(body)]
    sents: list[Segment] = []
    for p in paras:
        sents.extend(sentences(text, p))
    return Document(
        text=text,
        body_offset=offset,
        folded=normalise(text, casefold=True),
        cased=normalise(text, casefold=False),
        paragraphs=paras,
        sentences=sents,
        word_starts=[m.start() for m in _WORD_RE.finditer(text)],
        published_at=published_at,
    )
