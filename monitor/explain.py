"""Explain why a rule did or did not fire on a text (``monitor rules explain``)."""

from __future__ import annotations

from typing import Any

from .errors import MonitorError
from .facts import exceptions_firing
from .pipeline import Analyzer
from .ruletypes import All, AnyOf, AtLeast, MatchNode, Near, Not, Ref, RoleRef

__all__ = ["explain", "describe", "evaluate_node"]


def evaluate_node(node: MatchNode, fact: dict[str, Any]) -> bool:
    """Python reading of a match tree over a fact (for explanations only; durable decides)."""
    if isinstance(node, Ref):
        return fact.get(f"p_{node.name}", 0) >= 1
    if isinstance(node, Near):
        return fact.get(f"n{node.index}", 0) == 1
    if isinstance(node, RoleRef):
        return fact.get(f"r_{node.name}", 0) == 1
    if isinstance(node, All):
        return all(evaluate_node(c, fact) for c in node.children)
    if isinstance(node, AnyOf):
        return any(evaluate_node(c, fact) for c in node.children)
    if isinstance(node, AtLeast):
        return sum(evaluate_node(c, fact) for c in node.children) >= node.n
    if isinstance(node, Not):
        return not evaluate_node(node.child, fact)
    raise TypeError(node)


def describe(node: MatchNode, fact: dict[str, Any], depth: int = 0) -> list[str]:
    pad = "  " * depth
    ok = "yes" if evaluate_node(node, fact) else "NO "
    if isinstance(node, Ref):
        return [f"{pad}[{ok}] {node.name} ({fact.get('p_' + node.name, 0)} hit(s))"]
    if isinstance(node, Near):
        return [f"{pad}[{ok}] near {', '.join(node.patterns)} within {node.within} words"]
    if isinstance(node, RoleRef):
        return [f"{pad}[{ok}] roles: {node.name}"]
    if isinstance(node, Not):
        return [f"{pad}[{ok}] not"] + describe(node.child, fact, depth + 1)
    label = {All: "all of", AnyOf: "any of"}.get(type(node), f"at least {getattr(node, 'n', '')} of")
    lines = [f"{pad}[{ok}] {label}"]
    for c in node.children:  # type: ignore[union-attr]
        lines += describe(c, fact, depth + 1)
    return lines


def explain(analyzer: Analyzer, rule_id: str, text: str, title: str = "", published_at: str = "") -> list[str]:
    rule = analyzer.ruleset.rule(rule_id)
    if rule is None:
        known = ", ".join(r.id for r in analyzer.ruleset.rules)
        raise MonitorError(f"unknown rule '{rule_id}' (known rules: {known})")
    if not rule.enabled:
        raise MonitorError(f"rule '{rule_id}' is deprecated and never runs", rule.location)
    analysis = analyzer.analyse(text, title, published_at, rules=[rule_id], trace=True)
    trace = analysis.traces[rule_id]
    doc = analysis.document
    out = [f"rule {rule.id} ({rule.title}) level={rule.level} scope={rule.scope} version={rule.version}",
           f"defined at {rule.location}", "", "pattern hits in the whole text:"]
    for name, spec in list(rule.patterns.items()) + [(e.cues.name, e.cues) for e in rule.exceptions]:
        hits = trace.hits.get(name, [])
        kind = f"list {spec.list_id}" if spec.kind == "list" else spec.kind
        shown = "; ".join(f"{h.text!r}{' -> ' + h.entry if h.entry else ''}{' (weak)' if h.weak else ''} @{h.start}-{h.end}"
                          for h in hits) or "none"
        out.append(f"  {name} [{kind}]: {shown}")
    out.append("")
    fired_units = {(f.unit, f.kind, f.exception) for f in trace.fired}
    any_unit = False
    for uf in trace.units:
        has_hits = any(uf.hits[n] for n in rule.patterns)
        if not has_hits:
            continue
        any_unit = True
        snippet = " ".join(doc.text[uf.unit.start:uf.unit.end].split())
        out.append(f"{uf.unit.kind} {uf.unit.index} @{uf.unit.start}-{uf.unit.end}: {snippet!r}")
        out += describe(rule.match, uf.fact, 1)
        firing = exceptions_firing(doc, rule.exceptions, uf.hits)
        for exc in rule.exceptions:
            cues = firing[exc.name]
            state = "FIRED" if cues else "no"
            where = f" (cue {', '.join(repr(c.text) for c in cues)})" if cues else ""
            effect = {"suppress": "suppress", "lower": f"lower to {exc.level}"}.get(exc.effect, "annotate")
            if exc.assertion:
                effect += f", assertion {exc.assertion}"
            out.append(f"  exception {exc.name} [{effect}]: {state}{where}")
        if uf.roles is not None:
            r = uf.roles
            def side(h: Any) -> str:
                return f"{h.entry} ({h.text!r}{', weak alias' if h.weak else ''})" if h else "unknown"
            out.append(f"  roles: supplier {side(r.supplier)}, recipient {side(r.recipient)}, "
                       f"item {(r.item.entry or r.item.text) if r.item else 'none'}")
            for t in r.templates:
                out.append(f"    template {t!r} bound")
        if rule.regimes is not None:
            g = uf.regimes
            out.append(f"  regimes in force: {', '.join(g.authorities) or 'none'}"
                       f"{' (resolutions ' + ', '.join(g.resolutions) + ')' if g.resolutions else ''}")
        kinds = {k for (u, k, e) in fired_units if u == uf.unit.index}
        if "match" in kinds:
            m = next(m for m in analysis.matches if m.unit.index == uf.unit.index)
            verdict = f"FIRES at level {m.level}" + (f" (lowered by {', '.join(m.lowered_by)})" if m.lowered_by else "")
        elif "suppress" in kinds:
            excs = sorted(e for (u, k, e) in fired_units if u == uf.unit.index and k == "suppress")
            verdict = f"conditions hold but SUPPRESSED by {', '.join(excs)}"
        else:
            verdict = "does not fire: conditions do not hold"
        out.append(f"  => {verdict}")
        out.append("")
    if not any_unit:
        out.append(f"no {rule.scope} contains any of the rule's patterns")
    best = analysis.best(rule_id)
    out.append(f"result: {'rule fires, level ' + best.level if best else 'rule does not fire'}")
    return out
