"""Who supplied whom: role templates, sanctioned sides and regimes in force, before the engine.

A rule's ``roles`` block names a *party* pattern (a list of states and groups)
whose hits fill the ``{supplier}`` and ``{recipient}`` slots of ordered
templates, in the spirit of PETRARCH's source/target patterns::

    "{recipient} {transfer:acquire} {item?} from {supplier}"

Template elements are slots (``{supplier}``, ``{recipient}``, ``{item}``),
other rule patterns (``{transfer}``, or ``{transfer:supply|move}`` for some
entries of its list) and literal words (``to|into``); ``?`` makes an element
optional. At most ``max_gap`` words may separate two consecutive elements.
Templates are tried in order and each one binds only the roles still unbound,
so dyad templates go first and one-sided ones ("{supplier} {item}" for
"Iranian-made drones") fill in what is left.

:func:`resolve_roles` runs per scope unit in the fast matching stage and
:func:`role_facts` exposes the result to durable-rules as ``r_<name>`` 0/1
fields (``roles: dyad`` in a match tree tests ``r_dyad``). :func:`regimes_of`
names the sanctions measures binding the parties on the article's date.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from .document import Document, Unit
from .match import Hit
from .ruletypes import ListEntry, PatternSpec, RegimeSpec, RoleSpec, RoleTemplate, TemplateElement

__all__ = ["Roles", "Regimes", "parse_template", "resolve_roles", "role_facts", "regimes_of", "article_date",
           "measure_in_force", "MEASURE_KEYS"]

_WORD_RE = re.compile(r"\w+")
_ELEMENT_RE = re.compile(r"^\{([a-z_][a-z0-9_]*)(?::([A-Za-z0-9_.|-]+))?(\?)?\}$")
_DATE_RE = re.compile(r"(\d{4})-(\d{2})(?:-(\d{2}))?")
SLOTS = ("supplier", "recipient", "item")
MEASURE_KEYS = {"authority", "measure", "resolutions", "from", "to", "note", "contested", "direction"}
_BREAK_RE = re.compile(r"[;:()\[\]\u2014\u2013\"\u201c\u201d,]")
_MAX_CANDIDATES = 40  # per element and unit: bounds the template search on pathological sentences

EntryLookup = Callable[[PatternSpec, str], "ListEntry | None"]


@dataclass
class Roles:
    """Roles bound in one unit (``None`` when unknown) and the templates that bound them."""

    supplier: Hit | None = None
    recipient: Hit | None = None
    item: Hit | None = None
    templates: list[str] = field(default_factory=list)

    def side(self, role: str) -> Hit | None:
        return self.supplier if role == "supplier" else self.recipient


@dataclass
class Regimes:
    authorities: list[str] = field(default_factory=list)
    resolutions: list[str] = field(default_factory=list)
    in_force: bool = False
    notes: list[str] = field(default_factory=list)


def parse_template(text: str, patterns: dict[str, PatternSpec], spec_item: str,
                   max_gap: int) -> tuple[RoleTemplate | None, str]:
    """A template string as elements, or ``(None, error message)``."""
    elements: list[TemplateElement] = []
    for tok in text.split():
        m = _ELEMENT_RE.match(tok)
        if tok.startswith("{"):
            if not m:
                return None, f"template element '{tok}' must look like {{name}}, {{name:entry|entry}} or {{name?}}"
            name, entries, opt = m.group(1), m.group(2), bool(m.group(3))
            if name in ("supplier", "recipient"):
                if entries:
                    return None, f"template slot '{{{name}}}' takes no entries"
                elements.append(TemplateElement(name, optional=opt))
            elif name == "item":
                if not spec_item:
                    return None, "template uses {item} but roles has no 'item' pattern"
                wanted = tuple(entries.split("|")) if entries else ()
                if wanted and patterns[spec_item].kind != "list":
                    return None, f"template element '{tok}': entries apply only to list patterns"
                elements.append(TemplateElement("item", pattern=spec_item, entries=wanted, optional=opt))
            elif name in patterns:
                wanted = tuple(entries.split("|")) if entries else ()
                spec = patterns[name]
                if wanted and spec.kind != "list":
                    return None, f"template element '{tok}': entries apply only to list patterns"
                elements.append(TemplateElement("pattern", pattern=name, entries=wanted, optional=opt))
            else:
                return None, f"template refers to unknown pattern '{name}' (patterns: {', '.join(sorted(patterns))})"
        else:
            opt = tok.endswith("?")
            words = tuple(w.casefold() for w in tok.rstrip("?").split("|") if w)
            if not words or not all(_WORD_RE.fullmatch(w) for w in words):
                return None, f"template word '{tok}' must be letters/digits, alternatives separated by '|'"
            elements.append(TemplateElement("words", words=words, optional=opt))
    if not any(e.kind in ("supplier", "recipient") for e in elements):
        return None, "a template needs a {supplier} or {recipient} slot"
    if all(e.optional for e in elements):
        return None, "a template needs at least one element that is not optional"
    return RoleTemplate(text, tuple(elements), max_gap), ""


def _span(doc: Document, start: int, end: int) -> tuple[int, int]:
    ws = doc.word_index(start)
    we = doc.word_index(end)
    return ws, max(we, ws + 1)


def _candidates(el: TemplateElement, spec: RoleSpec, doc: Document, unit: Unit, hits: dict[str, list[Hit]],
                words: list[tuple[int, str]]) -> list[tuple[int, int, Hit | None]]:
    if el.kind == "words":
        return [(i, i + 1, None) for i, w in words if w in el.words][:_MAX_CANDIDATES]
    name = spec.party if el.kind in ("supplier", "recipient") else el.pattern
    out = []
    for h in hits.get(name, []):
        if not unit.start <= h.start < unit.end:
            continue
        if el.entries and h.entry not in el.entries:
            continue
        out.append((*_span(doc, h.start, h.end), h))
    return out[:_MAX_CANDIDATES]


def _breaks(doc: Document, unit: Unit) -> tuple[list[int], list[int]]:
    """Word indices just after a clause break: hard breaks (; : brackets dashes quotes) and commas."""
    hard, comma = [], []
    for m in _BREAK_RE.finditer(doc.text, unit.start, unit.end):
        (comma if m.group() == "," else hard).append(doc.word_index(m.end()))
    return hard, comma


def _crosses(breaks: list[int], prev_end: int, ws: int) -> bool:
    """A break sits between word ``prev_end - 1`` and word ``ws``."""
    return any(prev_end <= b <= ws for b in breaks) if breaks else False


def _match(tpl: RoleTemplate, cands: list[list[tuple[int, int, Hit | None]]],
           breaks: tuple[list[int], list[int]] = ([], [])) -> dict[str, Hit] | None:
    """The binding of the template with the smallest total gap (earliest on ties).

    No gap may cross a hard clause break, and no gap next to a supplier/recipient slot may cross a comma
    ("resolutions on the DPRK, procurement of drones from Iran" does not make the DPRK a buyer).
    """
    best: tuple[int, int, dict[str, Hit]] | None = None
    els = tpl.elements
    hard, comma = breaks

    def walk(i: int, prev_end: int | None, gap: int, first: int, bound: dict[str, Hit]) -> None:
        nonlocal best
        if best is not None and gap > best[0]:
            return
        if i == len(els):
            if first >= 0 and (best is None or (gap, first) < best[:2]):
                best = (gap, first, dict(bound))
            return
        el = els[i]
        if el.optional:
            walk(i + 1, prev_end, gap, first, bound)
        for ws, we, hit in cands[i]:
            if prev_end is not None:
                g = ws - prev_end
                if g < 0 or g > tpl.max_gap or _crosses(hard, prev_end, ws):
                    continue
                if (el.kind in ("supplier", "recipient") or els[i - 1].kind in ("supplier", "recipient")) \
                        and _crosses(comma, prev_end, ws):
                    continue
            else:
                g = 0
            if el.kind in SLOTS and hit is not None:
                if el.kind in ("supplier", "recipient"):
                    other = bound.get("recipient" if el.kind == "supplier" else "supplier")
                    if other is not None and other.entry == hit.entry:
                        continue
                bound[el.kind] = hit
                walk(i + 1, we, gap + g, ws if first < 0 else first, bound)
                del bound[el.kind]
            else:
                walk(i + 1, we, gap + g, ws if first < 0 else first, bound)

    walk(0, None, 0, -1, {})
    return best[2] if best else None


def resolve_roles(spec: RoleSpec, doc: Document, unit: Unit, hits: dict[str, list[Hit]]) -> Roles:
    """Bind supplier, recipient and item in ``unit`` by trying the templates in order."""
    roles = Roles()
    words = [(doc.word_index(m.start()), m.group().casefold()) for m in _WORD_RE.finditer(doc.text, unit.start, unit.end)]
    breaks: tuple[list[int], list[int]] | None = None
    for tpl in spec.templates:
        if roles.supplier and roles.recipient:
            break
        needs = {e.kind for e in tpl.elements if e.kind in ("supplier", "recipient")}
        if all(roles.side(r) is not None for r in needs):
            continue
        cands = [_candidates(e, spec, doc, unit, hits, words) for e in tpl.elements]
        if any(not c and not e.optional for c, e in zip(cands, tpl.elements)):
            continue
        if breaks is None:
            hard, comma = _breaks(doc, unit)
            if spec.barrier:  # a barrier word ends a gap like a hard break (word after it counts)
                hard += [doc.word_index(h.start) + 1 for h in hits.get(spec.barrier, [])
                         if unit.start <= h.start < unit.end]
            breaks = (hard, comma)
        bound = _match(tpl, cands, breaks)
        if not bound:
            continue
        used = False
        for role in ("supplier", "recipient"):
            hit = bound.get(role)
            other = roles.recipient if role == "supplier" else roles.supplier
            if hit is None or roles.side(role) is not None or (other is not None and other.entry == hit.entry):
                continue
            setattr(roles, role, hit)
            used = True
        if used:
            roles.templates.append(tpl.text)
            if roles.item is None and "item" in bound:
                roles.item = bound["item"]
    for role, pattern in spec.fallback.items():
        if roles.side(role) is not None:
            continue
        other = roles.recipient if role == "supplier" else roles.supplier
        inside = [h for h in hits.get(pattern, []) if unit.start <= h.start < unit.end]
        for h in inside + hits.get(pattern, []):
            if other is None or other.entry != h.entry:
                setattr(roles, role, h)
                roles.templates.append(f"fallback {role}: {pattern}")
                break
    if roles.item is None and spec.item and (roles.supplier or roles.recipient):
        items = [h for h in hits.get(spec.item, []) if unit.start <= h.start < unit.end]
        if items:
            roles.item = items[0]
    return roles


def article_date(published_at: str) -> str:
    """``YYYY-MM-DD`` from a published date (month precision becomes the 1st); today when unknown."""
    m = _DATE_RE.search(published_at or "")
    if not m:
        return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d")
    return f"{m.group(1)}-{m.group(2)}-{m.group(3) or '01'}"


def measure_in_force(measure: dict[str, Any], day: str) -> bool:
    start, end = str(measure.get("from") or ""), str(measure.get("to") or "")
    return (not start or start <= day) and (not end or day < end)


def regimes_of(spec: RegimeSpec | None, entries: list[tuple[ListEntry, str]], day: str) -> Regimes:
    """The measures (``attributes.measures`` of list entries) in force on ``day`` that the rule asks about.

    ``entries`` pairs each entry with its role: a supplier counts only measures on what it sends
    (``direction`` export or both), a recipient only measures on what it receives (import or both),
    an entry with no role every measure.
    """
    out = Regimes()
    if spec is None:
        return out
    for entry, role in entries:
        for meas in entry.attributes.get("measures") or []:
            if not isinstance(meas, dict):
                continue
            direction = meas.get("direction", "both")
            if (role == "supplier" and direction == "import") or (role == "recipient" and direction == "export"):
                continue
            if spec.measures and meas.get("measure") not in spec.measures:
                continue
            if spec.authorities and meas.get("authority") not in spec.authorities:
                continue
            if not measure_in_force(meas, day):
                continue
            out.in_force = True
            auth = str(meas.get("authority", ""))
            if auth and auth not in out.authorities:
                out.authorities.append(auth)
            for r in meas.get("resolutions") or []:
                if str(r) not in out.resolutions:
                    out.resolutions.append(str(r))
            if meas.get("contested"):
                note = f"{entry.label}: {meas.get('note') or 'measure contested'}"
                if note not in out.notes:
                    out.notes.append(note)
    return out


def sanctioned_side(spec: RoleSpec, roles: Roles, lookup: EntryLookup, party_spec: PatternSpec) -> bool:
    where = spec.sanctioned or {"sanctioned": True}
    for hit in (roles.supplier, roles.recipient):
        if hit is not None:
            entry = lookup(party_spec, hit.entry)
            if entry is not None and entry.has(where):
                return True
    return False


def role_facts(roles: Roles | None, sanctioned: bool, regimes: Regimes | None) -> dict[str, int]:
    r = roles or Roles()
    sup, rec = r.supplier is not None, r.recipient is not None
    return {"r_supplier": int(sup), "r_recipient": int(rec), "r_dyad": int(sup and rec), "r_any": int(sup or rec),
            "r_sanctioned": int(sanctioned), "r_in_force": int(bool(regimes and regimes.in_force))}
