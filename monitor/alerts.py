"""Turn rule matches into alert rows: deterministic id, message, evidence and spans."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from .pipeline import Analysis, RuleMatch
from .parse import PLACEHOLDER_RE
from .ruletypes import level_rank

__all__ = ["alert_id", "render_message", "make_alerts", "evidence_of", "roles_of"]


def alert_id(rule_id: str, article_id: str) -> str:
    """Stable per (rule, article): rescans and new rule versions update, never duplicate."""
    return hashlib.sha256(f"{rule_id}\x00{article_id}".encode()).hexdigest()[:16]


def evidence_of(analysis: Analysis, m: RuleMatch) -> tuple[int, int]:
    """Evidence span: the unit for sentence scope, else the sentence holding the first hit."""
    doc = analysis.document
    if m.unit.kind == "sentence":
        return m.unit.start, m.unit.end
    first = min((h.start for hits in m.hits.values() for h in hits), default=m.unit.start)
    sent = doc.sentence_at(first)
    return sent.start, sent.end


def render_message(m: RuleMatch, evidence: str) -> str:
    """Fill the rule's message template from the match's captures."""
    def sub(mo: Any) -> str:
        name, attr = mo.group(1), mo.group(2)
        if name == "evidence":
            return evidence
        if name == "title":
            return m.rule.title
        if name == "level":
            return m.level
        if name == "rule":
            return m.rule.id
        if name in ("supplier", "recipient", "item"):
            hit = getattr(m.roles, name) if m.roles is not None else None
            if hit is None:
                return "unknown" if name != "item" else ""
            if attr == "ids":
                return hit.entry or " ".join(hit.text.split())
            return " ".join((hit.text if attr == "terms" or not hit.label else hit.label).split())
        if name == "assertion":
            return m.assertion
        if name in ("regimes", "resolutions"):
            return ", ".join(getattr(m.regimes, "authorities" if name == "regimes" else "resolutions"))
        hits = m.hits.get(name, [])
        values: list[str] = []
        for h in hits:
            if attr == "ids":
                v = h.entry or h.text
            elif attr == "terms" or not h.entry:
                v = h.text
            else:
                v = h.label
            v = " ".join(v.split())
            if v not in values:
                values.append(v)
        return ", ".join(values)

    return " ".join(PLACEHOLDER_RE.sub(sub, m.rule.message).split())


def _fill_roles(best: RuleMatch, fired: list[RuleMatch]) -> list[str]:
    """Fill a side the best match left unknown from another firing unit of the same rule.

    Only units at the best match's level count, and only a party that is not already the other side;
    returns notes saying which side came from elsewhere.
    """
    notes: list[str] = []
    if best.roles is None:
        return notes
    r = best.roles = copy.copy(best.roles)
    for side in ("supplier", "recipient"):
        if r.side(side) is not None:
            continue
        other = r.recipient if side == "supplier" else r.supplier
        for m in sorted(fired, key=lambda m: m.unit.start):
            if m is best or m.roles is None or m.level != best.level:
                continue
            hit = m.roles.side(side)
            if hit is not None and (other is None or other.entry != hit.entry):
                setattr(r, side, hit)
                notes.append(f"{side} {hit.entry} named in another sentence")
                break
    return notes


def roles_of(m: RuleMatch) -> dict[str, Any]:
    """Supplier, recipient, item, assertion and regimes of a match ("" / [] where the rule states none).

    ``supplier``/``recipient`` are list entry ids (PRK, RUS, ...), ``*_text`` the words that named them,
    ``item`` the entry id (or term) of what moved, ``regimes`` the authorities (UN, US, EU, UK) whose
    measures were in force on the article date and ``resolutions`` their resolution numbers.
    """
    r = m.roles
    sup = r.supplier if r else None
    rec = r.recipient if r else None
    item = r.item if r else None
    return {"supplier": sup.entry if sup else "", "recipient": rec.entry if rec else "",
            "supplier_text": " ".join(sup.text.split()) if sup else "",
            "recipient_text": " ".join(rec.text.split()) if rec else "",
            "item": (item.entry or " ".join(item.text.split())) if item else "",
            "assertion": m.assertion, "regimes": list(m.regimes.authorities), "resolutions": list(m.regimes.resolutions)}


def make_alerts(analysis: Analysis, article_id: str, ruleset_version: str) -> list[dict[str, Any]]:
    """One alert row per rule that fired on the article (its strongest match is the evidence)."""
    doc = analysis.document
    fired = analysis.fired()
    rows = []
    for rule_id in sorted({m.rule.id for m in fired}):
        best = analysis.best(rule_id)
        assert best is not None
        filled = _fill_roles(best, [m for m in fired if m.rule.id == rule_id])
        a, b = evidence_of(analysis, best)
        field, fa, fb = doc.field_span(a, b)
        evidence = " ".join(doc.text[a:b].split())
        spans = []
        for name, hits in best.hits.items():
            for h in hits:
                f, s, e = doc.field_span(h.start, h.end)
                spans.append({"pattern": name, "term": h.text, "entry": h.entry, "field": f, "start": s, "end": e})
        spans.sort(key=lambda x: (x["field"] != "title", x["start"]))
        rows.append({
            "id": alert_id(rule_id, article_id), "rule_id": rule_id, "rule_version": best.rule.version,
            "ruleset_version": ruleset_version, "rule_title": best.rule.title, "level": best.level,
            "severity": level_rank(best.level), "message": render_message(best, evidence), "article_id": article_id,
            "evidence": evidence, "evidence_field": field, "evidence_start": fa, "evidence_end": fb,
            "spans": spans, "captures": best.captures(), "notes": best.notes + filled,
            "matched_units": sum(1 for m in fired if m.rule.id == rule_id),
            **roles_of(best),
        })
    return rows
