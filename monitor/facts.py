"""Turn pattern hits into per-unit facts for the engine.

For each rule and each scope unit that could satisfy it, a fact carries the
pattern counts ``p_<name>``, proximity flags ``n<i>`` (for ``near`` clauses) and
exception flags ``x_<name>`` (a cue placed as the exception requires) and, for
rules with ``roles``/``regimes``, the role facts ``r_<name>`` (see
:mod:`monitor.roles`). Units
that cannot satisfy the rule whatever the engine decides are skipped before it sees them.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from .document import Document, Unit
from .match import Hit, PatternHits
from .roles import Regimes, Roles, article_date, regimes_of, resolve_roles, role_facts, sanctioned_side
from .ruletypes import All, AnyOf, AtLeast, ExceptionSpec, ListEntry, MatchNode, Near, Not, PatternSpec, Ref, Rule, TermList

__all__ = ["UnitFacts", "could_match", "rule_units", "build_facts", "near_holds", "exceptions_firing"]


@dataclass
class UnitFacts:
    unit: Unit
    hits: dict[str, list[Hit]]  # pattern or cue key -> hits counted for this unit
    fact: dict[str, Any]
    roles: Roles | None = None
    regimes: Regimes = field(default_factory=Regimes)


def could_match(node: MatchNode, present: set[str]) -> bool:
    """Optimistic reading of the match tree (``not`` counts as true): False means no fact can match.

    Used to skip units before they reach the engine; ``present`` holds the patterns with hits.
    """
    if isinstance(node, Ref):
        return node.name in present
    if isinstance(node, Near):
        return set(node.patterns) <= present
    if isinstance(node, Not):
        return True
    if isinstance(node, All):
        return all(could_match(c, present) for c in node.children)
    if isinstance(node, AnyOf):
        return any(could_match(c, present) for c in node.children)
    if isinstance(node, AtLeast):
        return sum(could_match(c, present) for c in node.children) >= node.n
    return True


def _near_nodes(node: MatchNode) -> list[Near]:
    if isinstance(node, Near):
        return [node]
    if isinstance(node, Not):
        return _near_nodes(node.child)
    if isinstance(node, (All, AnyOf, AtLeast)):
        return [n for c in node.children for n in _near_nodes(c)]
    return []


def rule_units(rule: Rule, doc: Document, hits: PatternHits) -> list[Unit]:
    """The scope units of ``rule`` in ``doc`` (windows are anchored at pattern hits)."""
    if rule.scope.kind != "window":
        return doc.units(rule.scope.kind)
    size = rule.scope.window
    starts = sorted({doc.word_index(h.start) for name in rule.patterns for h in hits.get(name, [])})
    units = []
    nwords = len(doc.word_starts)
    for w in starts:
        last = min(w + size, nwords) - 1
        start = doc.word_starts[w] if w < nwords else len(doc.text)
        end = doc.word_starts[last + 1] if last + 1 < nwords else len(doc.text)
        units.append(Unit(w, "window", start, end))
    return units


def near_holds(doc: Document, node: Near, hits: dict[str, list[Hit]]) -> bool:
    """All of the clause's patterns occur within ``node.within`` words of each other."""
    events = sorted((doc.word_index(h.start), name) for name in node.patterns for h in hits.get(name, []))
    need = set(node.patterns)
    counts: dict[str, int] = {}
    lo = 0
    for hi, (pos, name) in enumerate(events):
        counts[name] = counts.get(name, 0) + 1
        while pos - events[lo][0] > node.within:
            old = events[lo][1]
            counts[old] -= 1
            if not counts[old]:
                del counts[old]
            lo += 1
        if need <= set(counts):
            return True
    return False


def _qualified(doc: Document, exc: ExceptionSpec, hits: dict[str, list[Hit]]) -> tuple[list[Hit], set[tuple[str, int]]]:
    """The cues of ``exc`` that qualify a word of its ``of`` patterns, and the (pattern, word) pairs they qualify."""
    cues = hits.get(exc.cues.name, [])
    anchors = {(p, doc.word_index(h.start)) for p in exc.of for h in hits.get(p, [])}
    used: list[Hit] = []
    covered: set[tuple[str, int]] = set()
    for cue in cues:
        c = doc.word_index(cue.start)
        mine = {(p, a) for p, a in anchors if _in_scope(exc, a - c)}
        if mine:
            used.append(cue)
            covered |= mine
    return used, covered


def _in_scope(exc: ExceptionSpec, d: int) -> bool:
    """``d`` is anchor word minus cue word: positive when the cue comes first."""
    return ((exc.direction == "before" and 0 < d <= exc.within) or
            (exc.direction == "after" and 0 < -d <= exc.within) or
            (exc.direction == "around" and abs(d) <= exc.within))


def exceptions_firing(doc: Document, exceptions: list[ExceptionSpec], hits: dict[str, list[Hit]]
                      ) -> dict[str, list[Hit]]:
    """The cue hits that trigger each exception in a unit (an empty list when it does not fire).

    An exception without ``of``/``within`` fires on any of its cues. With them, a cue qualifies the
    words of the ``of`` patterns within ``within`` words in its ``direction`` (NegEx-style), and the
    exception fires only when, for one of its ``of`` patterns, no word of that pattern in the unit is
    left unqualified by the unit's suppressing and lowering exceptions taken together. So in "a tanker
    transferred fuel ..., in an attempt to evade limits on deliveries" the plan qualifies
    "deliveries" but the report "transferred" still stands, while in "any sale of weapons would be
    prohibited under resolutions that bar exporting arms" every transfer word is qualified.
    """
    out: dict[str, list[Hit]] = {}
    scoped: dict[str, tuple[list[Hit], set[tuple[str, int]]]] = {}
    for exc in exceptions:
        cues = hits.get(exc.cues.name, [])
        if not cues or not exc.of or not exc.within:
            has_anchor = not exc.of or any(hits.get(p) for p in exc.of)
            out[exc.name] = cues if has_anchor else []
        else:
            scoped[exc.name] = _qualified(doc, exc, hits)
    mood = set().union(*(scoped[e.name][1] for e in exceptions
                         if e.name in scoped and e.effect in ("suppress", "lower")))
    for exc in exceptions:
        if exc.name not in scoped:
            continue
        used, covered = scoped[exc.name]
        pool = mood | covered
        whole = any(hits.get(p) and all((p, doc.word_index(h.start)) in pool for h in hits[p]) for p in exc.of)
        out[exc.name] = used if used and whole else []
    return out


def _lookup(lists: dict[str, TermList]) -> Any:
    def find(spec: PatternSpec, entry_id: str) -> ListEntry | None:
        tl = lists.get(spec.list_id)
        return tl.entry(entry_id) if tl is not None else None
    return find


def _entries(sources: list[tuple[PatternSpec, Hit, str]], lookup: Any) -> list[tuple[ListEntry, str]]:
    out: list[tuple[ListEntry, str]] = []
    for spec, h, role in sources:
        e = lookup(spec, h.entry)
        if e is not None and (e, role) not in out:
            out.append((e, role))
    return out


def build_facts(rule: Rule, doc: Document, hits: PatternHits, skip_hopeless: bool = True,
                lists: dict[str, TermList] | None = None) -> list[UnitFacts]:
    """One :class:`UnitFacts` per unit worth evaluating."""
    lookup = _lookup(lists or {})
    day = article_date(doc.published_at) if rule.regimes is not None else ""
    nears = _near_nodes(rule.match)
    names = list(rule.patterns) + [e.cues.name for e in rule.exceptions]
    doc_level = {n for n, spec in rule.patterns.items() if spec.in_document}
    doc_level |= {e.cues.name for e in rule.exceptions if e.cues.in_document}
    out = []
    # Hits sorted by start once per rule, so each unit takes its slice by bisection.
    ordered = {n: sorted(hits.get(n, []), key=lambda h: h.start) for n in names if n not in doc_level}
    starts = {n: [h.start for h in hs] for n, hs in ordered.items()}
    units = rule_units(rule, doc, hits)
    present_in: dict[int, set[str]] | None = None
    if skip_hopeless and rule.scope.kind != "window":  # disjoint units: map each hit to its unit once
        unit_starts = [u.start for u in units]
        present_in = {}
        for name in rule.patterns:
            if name in doc_level:
                continue
            for st in starts[name]:
                i = bisect.bisect_right(unit_starts, st) - 1
                if i >= 0 and st < units[i].end:
                    present_in.setdefault(i, set()).add(name)
        doc_present = {n for n in rule.patterns if n in doc_level and hits.get(n)}
    for pos, unit in enumerate(units):
        if present_in is not None and not could_match(rule.match, present_in.get(pos, set()) | doc_present):
            continue
        in_unit: dict[str, list[Hit]] = {}
        for name in names:
            if name in doc_level:
                in_unit[name] = hits.get(name, [])
            else:
                st = starts[name]
                in_unit[name] = ordered[name][bisect.bisect_left(st, unit.start):bisect.bisect_left(st, unit.end)]
        if skip_hopeless and present_in is None and not could_match(rule.match, {n for n in rule.patterns if in_unit[n]}):
            continue  # window units overlap, so they are checked here (disjoint units were checked above)
        fact: dict[str, Any] = {"rule": rule.id, "unit": unit.index}
        for name in rule.patterns:
            fact[f"p_{name}"] = len(in_unit[name])
        for node in nears:
            fact[f"n{node.index}"] = 1 if near_holds(doc, node, in_unit) else 0
        firing = exceptions_firing(doc, rule.exceptions, in_unit)
        for exc in rule.exceptions:
            fact[f"x_{exc.name}"] = 1 if firing[exc.name] else 0
        roles, regimes, sanctioned = None, Regimes(), False
        if rule.roles is not None:
            roles = resolve_roles(rule.roles, doc, unit, in_unit)
            sanctioned = sanctioned_side(rule.roles, roles, lookup, rule.patterns[rule.roles.party])
        if rule.regimes is not None:
            # The bound parties decide; when none of them is under a measure in force, the rule's
            # `of` patterns (e.g. the embargoed state the sentence names) are asked instead.
            bound = [(rule.patterns[rule.roles.party], h, role) for role, h in
                     (("supplier", roles.supplier), ("recipient", roles.recipient)) if h] \
                if rule.roles is not None and roles is not None else []
            regimes = regimes_of(rule.regimes, _entries(bound, lookup), day)
            if not regimes.in_force:
                bound_ids = {h.entry for _, h, _ in bound}
                named = [(rule.patterns[p], h, "") for p in rule.regimes.of for h in in_unit.get(p, [])
                         if h.entry not in bound_ids]
                regimes = regimes_of(rule.regimes, _entries(bound + named, lookup), day)
        if rule.roles is not None or rule.regimes is not None:
            fact.update(role_facts(roles, sanctioned, regimes))
        out.append(UnitFacts(unit, in_unit, fact, roles, regimes))
    return out
