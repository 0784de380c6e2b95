"""Parsing of the ``roles`` and ``regimes`` rule keys and of list entries' dated ``measures``.

Problems go to the rule loader's collector with the ``path:line:col`` of the
offending key or value, like every other rule error (see :mod:`monitor.rules`).
"""

from __future__ import annotations

from typing import Any

from .errors import Location
from .parse import Collector, str_list, unknown_keys
from .roles import MEASURE_KEYS, parse_template
from .ruletypes import PatternSpec, RegimeSpec, RoleSpec, RoleTemplate, TermList
from .yamlfile import Marks

__all__ = ["parse_roles", "parse_regimes", "check_measures", "ROLES_KEYS", "REGIMES_KEYS"]

ROLES_KEYS = {"party", "item", "sanctioned", "max_gap", "templates", "fallback", "barrier"}
REGIMES_KEYS = {"of", "measures", "authorities"}


def parse_roles(raw: Any, marks: Marks, patterns: dict[str, PatternSpec], lists: dict[str, TermList],
                 out: Collector, rule: str) -> RoleSpec | None:
    kp = ("roles",)
    if not isinstance(raw, dict):
        out.error(marks.value(*kp), "roles must be a mapping with party, item, templates", rule)
        return None
    unknown_keys(raw, ROLES_KEYS, marks, kp, "roles", out, rule)
    party, item = raw.get("party"), raw.get("item", "")
    if party not in patterns or patterns[party].kind != "list":
        out.error(marks.value(*kp, "party"), f"roles party must name a list pattern of this rule, got {party!r}", rule)
        return None
    if item and item not in patterns:
        out.error(marks.value(*kp, "item"), f"roles item refers to unknown pattern '{item}'", rule)
        item = ""
    sanctioned = raw.get("sanctioned") or {}
    if not isinstance(sanctioned, dict):
        out.error(marks.value(*kp, "sanctioned"), "roles sanctioned must be a mapping of attribute: value", rule)
        sanctioned = {}
    fallback = raw.get("fallback") or {}
    if not isinstance(fallback, dict) or set(fallback) - {"supplier", "recipient"}:
        out.error(marks.value(*kp, "fallback"), "roles fallback must map supplier or recipient to a list pattern", rule)
        fallback = {}
    for role, pat in fallback.items():
        if pat not in patterns or patterns[pat].kind != "list":
            out.error(marks.value(*kp, "fallback", role), f"roles fallback {role}: '{pat}' is not a list pattern of this rule", rule)
            fallback = {}
            break
    barrier = raw.get("barrier", "")
    if barrier and barrier not in patterns:
        out.error(marks.value(*kp, "barrier"), f"roles barrier refers to unknown pattern '{barrier}'", rule)
        barrier = ""
    max_gap = raw.get("max_gap", 4)
    if not isinstance(max_gap, int) or isinstance(max_gap, bool) or not 0 <= max_gap <= 30:
        out.error(marks.value(*kp, "max_gap"), "roles max_gap must be a number of words between 0 and 30", rule)
        max_gap = 4
    raw_tpls = raw.get("templates")
    items: list[tuple[Any, Any, Location]] = []  # (template text, gap, location)
    if isinstance(raw_tpls, str):  # a list whose entries carry attributes.template (shared across rules)
        tl = lists.get(raw_tpls)
        if tl is None:
            out.error(marks.value(*kp, "templates"), f"roles templates refers to unknown list '{raw_tpls}'", rule)
            return None
        for e in tl.entries:
            items.append((e.attributes.get("template"), e.attributes.get("max_gap", max_gap), e.location or tl.location))
    elif isinstance(raw_tpls, list) and raw_tpls:
        for i, t in enumerate(raw_tpls):
            loc = marks.value(*kp, "templates", i)
            if isinstance(t, dict):
                items.append((t.get("template"), t.get("max_gap", max_gap), loc))
            else:
                items.append((t, max_gap, loc))
    else:
        out.error(marks.value(*kp, "templates") if "templates" in raw else marks.value(*kp),
                  "roles needs 'templates': a list of template strings or the id of a list of templates", rule)
        return None
    templates: list[RoleTemplate] = []
    for text, gap, loc in items:
        if not isinstance(text, str) or not text.strip():
            out.error(loc, "a role template must be a non-empty string", rule)
            continue
        if not isinstance(gap, int) or isinstance(gap, bool) or not 0 <= gap <= 30:
            out.error(loc, f"template {text!r}: max_gap must be a number of words between 0 and 30", rule)
            gap = max_gap
        tpl, err = parse_template(text, patterns, item, gap)
        if tpl is None:
            out.error(loc, f"template {text!r}: {err}", rule)
            continue
        templates.append(RoleTemplate(tpl.text, tpl.elements, tpl.max_gap, loc))
    return RoleSpec(party=party, item=item, templates=tuple(templates), sanctioned=sanctioned, fallback=fallback,
                    barrier=str(barrier), location=marks.value(*kp))


def parse_regimes(raw: Any, marks: Marks, patterns: dict[str, PatternSpec], out: Collector, rule: str) -> RegimeSpec | None:
    kp = ("regimes",)
    if not isinstance(raw, dict):
        out.error(marks.value(*kp), "regimes must be a mapping with of, measures, authorities", rule)
        return None
    unknown_keys(raw, REGIMES_KEYS, marks, kp, "regimes", out, rule)
    of = str_list(raw.get("of"), marks.value(*kp, "of"), "regimes of", out, rule)
    for p in of:
        if p not in patterns or patterns[p].kind != "list":
            out.error(marks.value(*kp, "of"), f"regimes of: '{p}' is not a list pattern of this rule", rule)
    return RegimeSpec(of=of, measures=str_list(raw.get("measures"), marks.value(*kp, "measures"), "regimes measures", out, rule),
                      authorities=str_list(raw.get("authorities"), marks.value(*kp, "authorities"), "regimes authorities", out, rule),
                      location=marks.value(*kp))


def check_measures(tl: TermList, out: Collector) -> None:
    """``attributes.measures`` of list entries: mappings with known keys and ISO dates."""
    for e in tl.entries:
        measures = e.attributes.get("measures")
        if measures is None:
            continue
        loc = e.location or tl.location
        if not isinstance(measures, list):
            out.error(loc, f"list '{tl.id}': measures of entry '{e.id}' must be a list of mappings")
            continue
        for m in measures:
            if not isinstance(m, dict) or set(m) - MEASURE_KEYS or "authority" not in m:
                out.error(loc, f"list '{tl.id}': entry '{e.id}': each measure needs authority and only {', '.join(sorted(MEASURE_KEYS))}")
                continue
            for key in ("from", "to"):
                v = m.get(key)
                if v is not None and not (isinstance(v, str) and len(v) == 10 and v[4] == "-" and v[7] == "-"):
                    out.error(loc, f"list '{tl.id}': entry '{e.id}': measure {key} must be a quoted YYYY-MM-DD date, got {v!r}")
            if m.get("from") and m.get("to") and str(m["from"]) >= str(m["to"]):
                out.error(loc, f"list '{tl.id}': entry '{e.id}': measure ends ({m['to']}) before it starts ({m['from']})")
