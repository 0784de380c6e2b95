"""Fast text matching: one Aho-Corasick pass over every vocabulary, RE2 for regexes.

The :class:`Matcher` is built once per ruleset. ``find(document)`` returns, for
every rule pattern and exception cue, the :class:`Hit` list in original-text
offsets, after whole-word filtering, per-list longest-match overlap removal, and
weak / context alias policy.
"""

from __future__ import annotations

import re

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterable

import ahocorasick
import re2

from .document import Document
from .normalise import normalise_term
from .ruletypes import ListEntry, PatternSpec, Rule, RuleSet

__all__ = ["Hit", "Matcher", "PatternHits"]


@dataclass(frozen=True)
class Hit:
    """One occurrence of a pattern in a document (original-text offsets)."""

    pattern: str
    start: int
    end: int
    text: str
    entry: str = ""  # list entry id, for list patterns
    label: str = ""  # list entry label
    weak: bool = False
    groups: tuple[tuple[str, str], ...] = ()

    @property
    def value(self) -> str:
        """What a capture reports: the entry id for list hits, else the matched text."""
        return self.entry or self.text


PatternHits = dict[str, list[Hit]]  # pattern or cue key -> hits


@dataclass(frozen=True)
class _Source:
    owner: str  # "L:<list_id>" or "T:<rule_id>/<pattern>"
    entry: int = -1  # entry index for list sources
    kind: str = "strong"  # strong | weak | context


@dataclass
class _Raw:
    source: _Source
    start: int
    end: int


def _longest(items: list[_Raw]) -> list[_Raw]:
    """Drop every hit that lies inside a longer hit (same-span hits of different sources are kept)."""
    items = sorted(items, key=lambda r: (r.start, -(r.end - r.start)))
    kept: list[_Raw] = []
    cover_start, cover_end = -1, -1
    for r in items:
        if r.start >= cover_start and r.end <= cover_end and (r.start, r.end) != (cover_start, cover_end):
            continue
        kept.append(r)
        if r.end > cover_end:
            cover_start, cover_end = r.start, r.end
    return kept


_WORD_AFTER = re.compile(r"[^\W\d_][\w'-]*")
_WORD_BEFORE = re.compile(r"([^\W\d_][\w'-]*)([^\w\n]*)$")


def in_proper_name(doc: Document, start: int, end: int) -> bool:
    """A capitalised common noun inside a name in the body: "the Silver Merlin", "Nampo Coal Company".

    Entries marked ``common_noun: true`` skip such hits. Titles are left alone (headlines are often
    in title case); so is a capitalised word that only starts a sentence.
    """
    text = doc.text
    word = text[start:end]
    if start < doc.body_offset or not word[:1].isupper() or word.isupper():
        return False
    after = _WORD_AFTER.match(text, end + 1) if text[end:end + 1] == " " else None
    if after and after.group(0)[:1].isupper():
        return True
    before = _WORD_BEFORE.search(text, max(doc.body_offset, start - 40), start)
    if before is None or before.group(2) != " " or not before.group(1)[:1].isupper():
        return False
    head = text[max(doc.body_offset, before.start(1) - 3):before.start(1)].rstrip(" \"'\u201c\u2018")
    return not (head == "" or head.endswith((".", "!", "?", "\n", ":")))


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


@dataclass
class Matcher:
    """Compiled matchers for every list, terms pattern and regex of a ruleset."""

    ruleset: RuleSet
    _folded: ahocorasick.Automaton = field(init=False)
    _cased: ahocorasick.Automaton = field(init=False)
    _regex: dict[str, re2._Regexp] = field(init=False, default_factory=dict)  # type: ignore[name-defined]

    def __post_init__(self) -> None:
        folded: dict[str, list[_Source]] = defaultdict(list)
        cased: dict[str, list[_Source]] = defaultdict(list)
        for tl in self.ruleset.lists.values():
            owner = f"L:{tl.id}"
            for i, entry in enumerate(tl.entries):
                for kind, terms, table in (("strong", entry.aliases, folded), ("strong", entry.acronyms, cased),
                                           ("weak", entry.weak_aliases, folded),
                                           ("context", entry.context_aliases, folded)):
                    for term in terms:
                        key = normalise_term(term, casefold=table is folded)
                        if key:
                            table[key].append(_Source(owner, i, kind))
        for rule in self.ruleset.enabled_rules:
            for spec in self._specs(rule):
                key_owner = f"T:{rule.id}/{spec.name}"
                if spec.kind == "terms":
                    table = cased if spec.case_sensitive else folded
                    for term in spec.terms:
                        key = normalise_term(term, casefold=not spec.case_sensitive)
                        if key:
                            table[key].append(_Source(key_owner))
                elif spec.kind == "regex":
                    options = re2.Options()
                    options.case_sensitive = spec.case_sensitive
                    options.log_errors = False
                    options.max_mem = 64 << 20
                    self._regex[key_owner] = re2.compile(spec.regex, options)
        self._folded = self._automaton(folded)
        self._cased = self._automaton(cased)

    @staticmethod
    def _specs(rule: Rule) -> Iterable[PatternSpec]:
        yield from rule.patterns.values()
        for exc in rule.exceptions:
            yield exc.cues

    @staticmethod
    def _automaton(table: dict[str, list[_Source]]) -> ahocorasick.Automaton:
        auto = ahocorasick.Automaton()
        for key, sources in table.items():
            # Two spellings of one alias may normalise to one key: keep each source once.
            auto.add_word(key, (key, tuple(dict.fromkeys(sources))))
        if table:
            auto.make_automaton()
        return auto

    def _scan(self, auto: ahocorasick.Automaton, doc: Document, folded: bool) -> list[_Raw]:
        if len(auto) == 0:
            return []
        norm = doc.folded if folded else doc.cased
        text = norm.text
        n = len(text)
        out: list[_Raw] = []
        for end_idx, (key, sources) in auto.iter(text):
            start = end_idx - len(key) + 1
            end = end_idx + 1
            if _is_word(key[0]) and start > 0 and _is_word(text[start - 1]):
                continue
            if _is_word(key[-1]) and end < n and _is_word(text[end]):
                continue
            a, b = norm.span(start, end)
            for src in sources:
                out.append(_Raw(src, a, b))
        return out

    def raw_hits(self, doc: Document) -> dict[str, list[_Raw]]:
        """Every term occurrence grouped by owner (list or terms pattern)."""
        grouped: dict[str, list[_Raw]] = defaultdict(list)
        for raw in self._scan(self._folded, doc, True) + self._scan(self._cased, doc, False):
            grouped[raw.source.owner].append(raw)
        return grouped

    def find(self, doc: Document, raw: dict[str, list[_Raw]] | None = None,
             keep: Callable[[Rule, set[str]], bool] | None = None) -> dict[str, PatternHits]:
        """Hits per rule: ``{rule_id: {pattern_or_cue_key: [Hit, ...]}}`` (cue keys are ``exception.cues``).

        ``keep(rule, patterns_with_hits)`` may say a rule cannot match the document at all; its
        exception cues are then not looked up (they stay empty lists).
        """
        raw = self.raw_hits(doc) if raw is None else raw
        result: dict[str, PatternHits] = {}
        survivors: dict[tuple[str, bool], list[tuple[_Raw, ListEntry]]] = {}  # per (list, weak), computed once
        for rule in self.ruleset.enabled_rules:
            per: PatternHits = {}
            for spec in rule.patterns.values():
                per[spec.name] = self.pattern_hits(rule, spec, doc, raw, survivors)
            hopeless = keep is not None and not keep(rule, {n for n, h in per.items() if h})
            for exc in rule.exceptions:
                per[exc.cues.name] = [] if hopeless else self.pattern_hits(rule, exc.cues, doc, raw, survivors)
            result[rule.id] = per
        return result

    def pattern_hits(self, rule: Rule, spec: PatternSpec, doc: Document, raw: dict[str, list[_Raw]],
                     survivors: dict[tuple[str, bool], list[tuple[_Raw, ListEntry]]] | None = None) -> list[Hit]:
        if spec.kind == "list":
            key = (spec.list_id, spec.weak)
            cache = {} if survivors is None else survivors
            if key not in cache:
                cache[key] = self._candidates(spec, raw.get(f"L:{spec.list_id}", []))
            return self._list_hits(spec, doc, cache[key])
        owner = f"T:{rule.id}/{spec.name}"
        if spec.kind == "terms":
            return [Hit(spec.name, r.start, r.end, doc.text[r.start:r.end]) for r in _longest(raw.get(owner, []))]
        regex = self._regex[owner]
        norm = doc.cased
        hits = []
        for m in regex.finditer(norm.text):
            if m.end() == m.start():
                continue
            a, b = norm.span(m.start(), m.end())
            groups = tuple((name, norm.original_slice(*m.span(idx))) for name, idx in regex.groupindex.items()
                           if m.group(idx) is not None)
            hits.append(Hit(spec.name, a, b, doc.text[a:b], groups=groups))
        return hits

    def _candidates(self, spec: PatternSpec, raws: list[_Raw]) -> list[tuple[_Raw, ListEntry]]:
        """The list's spans before entry/attribute filters: the list decides what a span is, so the
        longest phrase of the whole list wins first ("South Sudan" is not "Sudan"; "delivery systems"
        is not "delivery"). Weak aliases count only for weak patterns; context aliases only next to a
        strong alias that survived; look-alike entries shadow shorter phrases and are never hits."""
        tl = self.ruleset.lists[spec.list_id]
        survivors = _longest([r for r in raws if r.source.kind != "weak" or spec.weak])
        strong_entries = {r.source.entry for r in survivors if r.source.kind == "strong"}
        return [(r, tl.entries[r.source.entry]) for r in survivors
                if not (r.source.kind == "context" and r.source.entry not in strong_entries)
                and tl.entries[r.source.entry].attributes.get("lookalike") is not True]

    def _list_hits(self, spec: PatternSpec, doc: Document, candidates: list[tuple[_Raw, ListEntry]]) -> list[Hit]:
        hits = []
        for r, entry in candidates:
            if spec.entries and entry.id not in spec.entries:
                continue
            if spec.where and not entry.has(spec.where):
                continue
            if entry.attributes.get("common_noun") is True and in_proper_name(doc, r.start, r.end):
                continue
            hits.append(Hit(spec.name, r.start, r.end, doc.text[r.start:r.end], entry=entry.id, label=entry.label,
                            weak=r.source.kind == "weak"))
        return hits
