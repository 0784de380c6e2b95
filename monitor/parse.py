"""Parsing helpers for rule and list documents: lists, patterns, match trees.

Each helper reports problems to a collector with the exact ``path:line:col`` of
the offending key or value; :mod:`monitor.rules` drives them per file.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import re2

from .errors import Location, RuleError
from .normalise import normalise_term
from .ruletypes import (
    ROLE_FACTS, All, AnyOf, AtLeast, Issue, ListEntry, MatchNode, Near, Not, PatternSpec, Ref, RoleRef, TermList,
)
from .yamlfile import Marks

__all__ = ["discover_rule_files", "Collector", "parse_list", "parse_pattern", "parse_match", "refs", "digest",
           "str_list", "unknown_keys", "document_id", "ID_RE", "PLACEHOLDER_RE", "SPECIAL_PLACEHOLDERS"]

ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
ENTRY_ID_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
PLACEHOLDER_RE = re.compile(r"\{([a-z_][a-z0-9_]*)(?:\.(ids|terms))?\}")
SPECIAL_PLACEHOLDERS = {"evidence", "title", "level", "rule", "supplier", "recipient", "item", "assertion",
                        "regimes", "resolutions"}

LIST_KEYS = {"kind", "id", "title", "description", "entries"}
ENTRY_KEYS = {"id", "label", "aliases", "acronyms", "weak_aliases", "context_aliases", "attributes"}
PATTERN_KEYS = {"list", "entries", "where", "weak", "terms", "case", "regex", "scope"}


def discover_rule_files(paths: list[str | Path]) -> list[Path]:
    """Every ``*.yaml``/``*.yml`` file under ``paths`` (files are taken as given), sorted."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(sorted(x for x in p.rglob("*") if x.suffix in (".yaml", ".yml") and x.is_file()))
        else:
            found.append(p)
    return found


class Collector:
    def __init__(self, fail_fast: bool) -> None:
        self.fail_fast = fail_fast
        self.issues: list[Issue] = []

    def error(self, loc: Location, message: str, rule: str = "") -> None:
        issue = Issue(loc, message, "error", rule)
        if self.fail_fast:
            raise RuleError(message, loc, rule=rule or None)
        self.issues.append(issue)

    def warn(self, loc: Location, message: str, rule: str = "") -> None:
        self.issues.append(Issue(loc, message, "warning", rule))


def digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def str_list(value: Any, loc: Location, what: str, out: Collector, rule: str = "") -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
        out.error(loc, f"{what} must be a list of strings", rule)
        return ()
    items = tuple(str(v) for v in value)
    for item in items:
        if not item.strip():
            out.error(loc, f"{what} contains an empty string", rule)
    return items


def unknown_keys(data: dict[str, Any], allowed: set[str], marks: Marks, keypath: tuple[Any, ...],
                  what: str, out: Collector, rule: str = "") -> None:
    for key in data:
        if key not in allowed:
            out.error(marks.key(*keypath, key), f"unknown key '{key}' in {what} (allowed: {', '.join(sorted(allowed))})", rule)


# ---------------------------------------------------------------- lists

def document_id(data: dict[str, Any], marks: Marks, out: Collector, kind: str, keys: set[str],
                required: tuple[str, ...]) -> str | None:
    """Check a rule-like document's keys and id (reported to ``out``); its id, or None when unusable."""
    did = data.get("id")
    name = did if isinstance(did, str) else ""
    unknown_keys(data, keys, marks, (), kind, out, name)
    missing = [k for k in required if k not in data]
    if missing:
        out.error(marks.value(), f"{kind} is missing required key(s): {', '.join(missing)}", name)
        return None
    if not isinstance(did, str) or not ID_RE.match(did):
        out.error(marks.value("id"), f"{kind} id must match {ID_RE.pattern}, got {did!r}")
        return None
    return did


def parse_list(data: dict[str, Any], marks: Marks, out: Collector) -> TermList | None:
    unknown_keys(data, LIST_KEYS, marks, (), "list", out)
    list_id = data.get("id")
    if not isinstance(list_id, str) or not ID_RE.match(list_id):
        out.error(marks.value("id"), f"list id must match {ID_RE.pattern}, got {list_id!r}")
        return None
    entries_raw = data.get("entries")
    if not isinstance(entries_raw, list) or not entries_raw:
        out.error(marks.key("entries"), f"list '{list_id}' needs a non-empty 'entries' list")
        return None
    entries: list[ListEntry] = []
    seen_ids: dict[str, int] = {}
    seen_alias: dict[tuple[str, bool], str] = {}
    for i, raw in enumerate(entries_raw):
        loc = marks.value("entries", i)
        if not isinstance(raw, dict):
            out.error(loc, f"list '{list_id}': entry must be a mapping")
            continue
        unknown_keys(raw, ENTRY_KEYS, marks, ("entries", i), f"entry of list '{list_id}'", out)
        eid = raw.get("id")
        if isinstance(eid, int) and not isinstance(eid, bool):
            eid = str(eid)
        if not isinstance(eid, str) or not ENTRY_ID_RE.match(eid):
            out.error(marks.value("entries", i, "id"), f"list '{list_id}': entry id must match {ENTRY_ID_RE.pattern}, got {eid!r}")
            continue
        if eid in seen_ids:
            out.error(marks.value("entries", i, "id"), f"list '{list_id}': duplicate entry id '{eid}' (first at entry {seen_ids[eid] + 1})")
            continue
        seen_ids[eid] = i
        fields = {}
        for key in ("aliases", "acronyms", "weak_aliases", "context_aliases"):
            fields[key] = str_list(raw.get(key), marks.value("entries", i, key), f"'{key}' of entry '{eid}'", out)
        attributes = raw.get("attributes") or {}
        if not isinstance(attributes, dict):
            out.error(marks.value("entries", i, "attributes"), f"'attributes' of entry '{eid}' must be a mapping")
            attributes = {}
        for key in ("aliases", "acronyms", "weak_aliases", "context_aliases"):
            for alias in fields[key]:
                sensitive = key == "acronyms"
                # Compare aliases as the matcher sees them (case, diacritics, quotes, dashes folded).
                norm = normalise_term(alias, casefold=not sensitive)
                other = seen_alias.get((norm, sensitive))
                if other is not None and other != eid:
                    out.error(marks.value("entries", i, key), f"list '{list_id}': alias '{alias}' of entry '{eid}' is also an alias of entry '{other}'")
                seen_alias[(norm, sensitive)] = eid
        label = raw.get("label", eid)
        entries.append(ListEntry(id=eid, label=str(label), attributes=attributes, location=loc, **fields))
    return TermList(id=list_id, title=str(data.get("title", list_id)), description=str(data.get("description", "")),
                    entries=tuple(entries), location=marks.value(), digest=digest(data))


# ---------------------------------------------------------------- rules

def parse_pattern(name: str, raw: Any, marks: Marks, keypath: tuple[Any, ...], lists: dict[str, TermList],
                   out: Collector, rule: str) -> PatternSpec | None:
    loc = marks.value(*keypath)
    if isinstance(raw, str):
        raw = {"list": raw}
    if isinstance(raw, list):
        raw = {"terms": raw}
    if not isinstance(raw, dict):
        out.error(loc, f"pattern '{name}' must be a mapping with one of list, terms or regex", rule)
        return None
    unknown_keys(raw, PATTERN_KEYS, marks, keypath, f"pattern '{name}'", out, rule)
    kinds = [k for k in ("list", "terms", "regex") if k in raw]
    if len(kinds) != 1:
        out.error(loc, f"pattern '{name}' needs exactly one of list, terms or regex (found {', '.join(kinds) or 'none'})", rule)
        return None
    kind = kinds[0]
    case = raw.get("case", "insensitive")
    if case not in ("insensitive", "sensitive"):
        out.error(marks.value(*keypath, "case"), f"pattern '{name}': case must be 'insensitive' or 'sensitive'", rule)
    scope = raw.get("scope", "unit")
    if scope not in ("unit", "document"):
        out.error(marks.value(*keypath, "scope"), f"pattern '{name}': scope must be 'unit' or 'document'", rule)
    weak = raw.get("weak", False)
    if not isinstance(weak, bool):
        out.error(marks.value(*keypath, "weak"), f"pattern '{name}': weak must be true or false", rule)
        weak = False
    where = raw.get("where") or {}
    if not isinstance(where, dict):
        out.error(marks.value(*keypath, "where"), f"pattern '{name}': where must be a mapping of attribute: value", rule)
        where = {}
    spec = dict(name=name, kind=kind, weak=weak, case_sensitive=case == "sensitive",
                in_document=scope == "document", location=loc, where=where)
    if kind == "list":
        list_id = raw["list"]
        if not isinstance(list_id, str) or list_id not in lists:
            known = ", ".join(sorted(lists)) or "none loaded"
            out.error(marks.value(*keypath, "list"), f"pattern '{name}' refers to unknown list '{list_id}' (known lists: {known})", rule)
            return None
        if where and not any(e.has(where) for e in lists[list_id].entries):
            out.error(marks.value(*keypath, "where"), f"pattern '{name}': no entry of list '{list_id}' satisfies where {where}", rule)
        entries = str_list(raw.get("entries"), marks.value(*keypath, "entries"), f"entries of pattern '{name}'", out, rule)
        known = {e.id for e in lists[list_id].entries}
        for e in entries:
            if e not in known:
                out.error(marks.value(*keypath, "entries"), f"pattern '{name}': list '{list_id}' has no entry '{e}'", rule)
        return PatternSpec(list_id=list_id, entries=entries, **spec)
    if "where" in raw or "weak" in raw or "entries" in raw:
        out.error(loc, f"pattern '{name}': 'entries', 'where' and 'weak' apply only to list patterns", rule)
    if kind == "terms":
        terms = str_list(raw["terms"], marks.value(*keypath, "terms"), f"terms of pattern '{name}'", out, rule)
        if not terms:
            out.error(marks.value(*keypath, "terms"), f"pattern '{name}' has no terms", rule)
        return PatternSpec(terms=terms, **spec)
    regex = raw["regex"]
    if not isinstance(regex, str) or not regex:
        out.error(marks.value(*keypath, "regex"), f"pattern '{name}': regex must be a non-empty string", rule)
        return None
    try:
        options = re2.Options()
        options.case_sensitive = case == "sensitive"
        options.log_errors = False
        re2.compile(regex, options)
    except Exception as exc:  # re2.error carries the RE2 message, as bytes
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        out.error(marks.value(*keypath, "regex"), f"pattern '{name}': invalid regex: {detail}", rule)
        return None
    return PatternSpec(regex=regex, **spec)


def parse_match(raw: Any, marks: Marks, keypath: tuple[Any, ...], patterns: dict[str, PatternSpec],
                 out: Collector, rule: str, near: list[Near]) -> MatchNode | None:
    loc = marks.value(*keypath)
    if isinstance(raw, str):
        if raw not in patterns:
            out.error(loc, f"match refers to unknown pattern '{raw}' (patterns: {', '.join(sorted(patterns))})", rule)
            return None
        return Ref(raw, loc)
    if isinstance(raw, list):
        raw = {"all": raw}
    if not isinstance(raw, dict) or len(raw) != 1:
        out.error(loc, "a match clause must be a pattern name or a mapping with exactly one of all, any, not, at_least, near, roles", rule)
        return None
    (op, arg), = raw.items()

    def children(items: Any, key: tuple[Any, ...]) -> tuple[MatchNode, ...]:
        if not isinstance(items, list) or not items:
            out.error(marks.value(*key), f"'{op}' needs a non-empty list", rule)
            return ()
        nodes = [parse_match(item, marks, key + (i,), patterns, out, rule, near) for i, item in enumerate(items)]
        return tuple(n for n in nodes if n is not None)

    kp = keypath + (op,)
    if op == "all":
        return All(children(arg, kp))
    if op == "any":
        return AnyOf(children(arg, kp))
    if op == "not":
        child = parse_match(arg, marks, kp, patterns, out, rule, near)
        return Not(child) if child is not None else None
    if op == "at_least":
        if not isinstance(arg, dict) or set(arg) != {"n", "of"} or not isinstance(arg.get("n"), int):
            out.error(marks.value(*kp), "at_least needs {n: <int>, of: [clauses]}", rule)
            return None
        kids = children(arg["of"], kp + ("of",))
        if not 1 <= arg["n"] <= len(kids):
            out.error(marks.value(*kp, "n"), f"at_least n={arg['n']} must be between 1 and {len(kids)}", rule)
            return None
        if len(kids) > 12:
            out.error(marks.value(*kp, "of"), "at_least supports at most 12 clauses", rule)
            return None
        return AtLeast(arg["n"], kids)
    if op == "near":
        if not isinstance(arg, dict) or set(arg) != {"patterns", "within"}:
            out.error(marks.value(*kp), "near needs {patterns: [names], within: <words>}", rule)
            return None
        names = str_list(arg["patterns"], marks.value(*kp, "patterns"), "near patterns", out, rule)
        for n in names:
            if n not in patterns:
                out.error(marks.value(*kp, "patterns"), f"near refers to unknown pattern '{n}'", rule)
                return None
        within = arg["within"]
        if not isinstance(within, int) or isinstance(within, bool) or within < 1:
            out.error(marks.value(*kp, "within"), "near 'within' must be a positive number of words", rule)
            return None
        if len(names) < 2:
            out.error(marks.value(*kp, "patterns"), "near needs at least two patterns", rule)
            return None
        node = Near(names, within, len(near))
        near.append(node)
        return node
    if op == "roles":
        if arg not in ROLE_FACTS:
            out.error(marks.value(*kp), f"roles must be one of {', '.join(ROLE_FACTS)}, got {arg!r}", rule)
            return None
        return RoleRef(arg)
    out.error(marks.key(*kp), f"unknown match operator '{op}' (use all, any, not, at_least, near, roles)", rule)
    return None


def refs(node: MatchNode | None) -> set[str]:
    if node is None:
        return set()
    if isinstance(node, Ref):
        return {node.name}
    if isinstance(node, Near):
        return set(node.patterns)
    if isinstance(node, RoleRef):
        return set()
    if isinstance(node, Not):
        return refs(node.child)
    return set().union(*(refs(c) for c in node.children)) if node.children else set()
