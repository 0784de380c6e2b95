"""The one detection pipeline used by scanning, ``rules test`` and ``rules explain``.

text -> :class:`~monitor.document.Document` -> :class:`~monitor.match.Matcher` hits
-> per-unit facts -> durable-rules :class:`~monitor.engine.Engine` -> :class:`RuleMatch`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .document import Document, Unit, make_document
from .engine import Engine, Fired
from .facts import UnitFacts, build_facts, could_match
from .match import Hit, Matcher, PatternHits
from .roles import Regimes, Roles
from .ruletypes import ASSERTIONS, LEVELS, Rule, RuleSet, level_rank

__all__ = ["Analyzer", "Analysis", "RuleMatch"]


@dataclass
class RuleMatch:
    """A rule that fired (or was suppressed) on one scope unit."""

    rule: Rule
    unit: Unit
    level: str
    hits: dict[str, list[Hit]]
    suppressed_by: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    lowered_by: list[str] = field(default_factory=list)
    roles: Roles | None = None
    regimes: Regimes = field(default_factory=Regimes)
    assertions: list[str] = field(default_factory=list)  # classes set by annotating/lowering exceptions

    @property
    def fired(self) -> bool:
        return not self.suppressed_by

    @property
    def roles_bound(self) -> int:
        return 0 if self.roles is None else (self.roles.supplier is not None) + (self.roles.recipient is not None)

    @property
    def assertion(self) -> str:
        """The claim's assertion class: the strongest qualifier that fired, else the rule's default."""
        if not self.rule.assertion:
            return ""
        for cls in ASSERTIONS:
            if cls in self.assertions:
                return cls
        return self.rule.assertion

    def captures(self) -> dict[str, list[str]]:
        """Pattern name -> distinct values (entry ids or matched text), plus regex groups."""
        caps: dict[str, list[str]] = {}
        for name in self.rule.patterns:
            values: list[str] = []
            for h in self.hits.get(name, []):
                if h.value not in values:
                    values.append(h.value)
                for g, v in h.groups:
                    key = f"{name}.{g}"
                    caps.setdefault(key, [])
                    if v not in caps[key]:
                        caps[key].append(v)
            if values:
                caps[name] = values
        return caps


@dataclass
class RuleTrace:
    """Everything computed for one rule on one document (for ``explain``)."""

    rule: Rule
    hits: PatternHits
    units: list[UnitFacts]
    fired: list[Fired]


@dataclass
class Analysis:
    document: Document
    matches: list[RuleMatch]  # fired and suppressed
    traces: dict[str, RuleTrace]

    def fired(self) -> list[RuleMatch]:
        return [m for m in self.matches if m.fired]

    def best(self, rule_id: str) -> RuleMatch | None:
        """The strongest firing match of a rule: highest level, then most roles bound, then earliest unit."""
        cands = [m for m in self.matches if m.fired and m.rule.id == rule_id]
        if not cands:
            return None
        return sorted(cands, key=lambda m: (-level_rank(m.level), -m.roles_bound, m.unit.start))[0]


class Analyzer:
    """Compiled matcher + engine for one ruleset; ``analyse`` runs the full pipeline."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self.matcher = Matcher(ruleset)
        self.engine = Engine(ruleset)

    def analyse(self, text: str, title: str = "", published_at: str = "", *,
                rules: list[str] | None = None, trace: bool = False) -> Analysis:
        doc = make_document(text, title, published_at)
        # Outside traces, a rule whose patterns cannot match anywhere in the document skips its cues.
        all_hits = self.matcher.find(doc, keep=None if trace else (lambda r, present: could_match(r.match, present)))
        facts: list[dict] = []
        units: dict[tuple[str, int], UnitFacts] = {}
        traces: dict[str, RuleTrace] = {}
        evaluated: dict[str, Rule] = {}
        for rule in self.ruleset.enabled_rules:
            if rules is not None and rule.id not in rules:
                continue
            evaluated[rule.id] = rule
            rule_units = build_facts(rule, doc, all_hits[rule.id], skip_hopeless=not trace, lists=self.ruleset.lists)
            for uf in rule_units:
                units[(rule.id, uf.unit.index)] = uf
                facts.append(uf.fact)
            if trace:
                traces[rule.id] = RuleTrace(rule, all_hits[rule.id], rule_units, [])
        fired = self.engine.evaluate(facts)
        by_unit: dict[tuple[str, int], RuleMatch] = {}
        for f in fired:
            uf = units[(f.rule, f.unit)]
            rule = evaluated[f.rule]
            m = by_unit.get((f.rule, f.unit))
            if m is None:
                m = by_unit[(f.rule, f.unit)] = RuleMatch(rule, uf.unit, rule.level, uf.hits, roles=uf.roles,
                                                           regimes=uf.regimes)
                m.notes.extend(uf.regimes.notes)
            if f.kind == "suppress":
                m.suppressed_by.append(f.exception)
            elif f.kind == "lower":
                exc = next(e for e in rule.exceptions if e.name == f.exception)
                if exc.effect == "lower":
                    m.lowered_by.append(exc.name)
                if exc.assertion:
                    m.assertions.append(exc.assertion)
                if exc.note not in m.notes:
                    m.notes.append(exc.note)
            if trace:
                traces[f.rule].fired.append(f)
        matches = []
        for m in by_unit.values():
            # A unit that fired the main rule has no suppressions; one that was only suppressed keeps them.
            if m.lowered_by:
                levels = [e.level for e in m.rule.exceptions if e.name in m.lowered_by]
                m.level = min(levels + [m.level], key=LEVELS.index)
            matches.append(m)
        matches.sort(key=lambda m: (m.rule.id, m.unit.start))
        return Analysis(doc, matches, traces)
