"""Load rules like a compiler front end: YAML files -> typed, validated :class:`RuleSet`.

``load_rules(paths)`` raises the first :class:`~monitor.errors.RuleError` (what the
scanner and daemon want); ``lint_rules(paths)`` returns every problem in every
file as ``path:line:col: message`` issues (what ``monitor rules lint`` prints).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from .correlation import Correlation, check_correlations, parse_correlation
from .errors import Location, RuleError
from .parse import (
    ID_RE, PLACEHOLDER_RE, SPECIAL_PLACEHOLDERS, Collector, digest, discover_rule_files, parse_list,
    document_id, parse_match, parse_pattern, refs, str_list, unknown_keys,
)
from .parse_roles import check_measures, parse_regimes, parse_roles
from .ruletypes import (
    ASSERTIONS, LEVELS, STATUSES, ExceptionSpec, Issue, Near, PatternSpec, Rule, RuleSet, RuleTest, Scope, TermList,
)
from .yamlfile import Marks, YamlDocument, load_yaml_file

__all__ = ["load_rules", "lint_rules", "discover_rule_files"]

RULE_KEYS = {"kind", "id", "title", "description", "level", "status", "tags", "references", "author",
             "scope", "patterns", "match", "exceptions", "message", "tests", "roles", "assertion", "regimes"}
RULE_REQUIRED = ("id", "title", "level", "scope", "patterns", "match")
EXCEPTION_KEYS = {"name", "cues", "of", "within", "direction", "effect"}
TEST_KEYS = {"text", "match", "level", "captures", "because", "title", "published_at", "roles", "assertion",
             "regimes"}
KINDS = ("list", "rule", "correlation")


def _parse_scope(raw: Any, marks: Marks, out: Collector, rule: str) -> Scope:
    if raw in ("sentence", "paragraph", "document"):
        return Scope(raw)
    if isinstance(raw, dict) and set(raw) == {"window"}:
        n = raw["window"]
        if isinstance(n, int) and not isinstance(n, bool) and 2 <= n <= 500:
            return Scope("window", n)
        out.error(marks.value("scope", "window"), "scope window must be a number of words between 2 and 500", rule)
        return Scope("sentence")
    out.error(marks.value("scope"), f"scope must be sentence, paragraph, document or {{window: N}}, got {raw!r}", rule)
    return Scope("sentence")


def _parse_exception(i: int, raw: Any, marks: Marks, patterns: dict[str, PatternSpec],
                     lists: dict[str, TermList], out: Collector, rule: str) -> ExceptionSpec | None:
    kp = ("exceptions", i)
    loc = marks.value(*kp)
    if not isinstance(raw, dict):
        out.error(loc, "an exception must be a mapping with name, cues and effect", rule)
        return None
    unknown_keys(raw, EXCEPTION_KEYS, marks, kp, "exception", out, rule)
    name = raw.get("name")
    if not isinstance(name, str) or not ID_RE.match(name):
        out.error(marks.value(*kp, "name"), f"exception name must match {ID_RE.pattern}, got {name!r}", rule)
        return None
    if "cues" not in raw:
        out.error(loc, f"exception '{name}' needs 'cues' (a list, terms or regex pattern)", rule)
        return None
    cues = parse_pattern(f"{name}.cues", raw["cues"], marks, kp + ("cues",), lists, out, rule)
    of = str_list(raw.get("of"), marks.value(*kp, "of"), f"'of' of exception '{name}'", out, rule)
    for p in of:
        if p not in patterns:
            out.error(marks.value(*kp, "of"), f"exception '{name}' refers to unknown pattern '{p}'", rule)
    within = raw.get("within", 0)
    if not isinstance(within, int) or isinstance(within, bool) or within < 0:
        out.error(marks.value(*kp, "within"), f"exception '{name}': within must be a number of words", rule)
        within = 0
    if within and not of:
        out.error(marks.value(*kp, "within"), f"exception '{name}': 'within' needs 'of' (the patterns the cue must be near)", rule)
    direction = raw.get("direction", "around")
    if direction not in ("before", "after", "around"):
        out.error(marks.value(*kp, "direction"), f"exception '{name}': direction must be before, after or around", rule)
    effect_raw = raw.get("effect", "suppress")
    effect, level, note, assertion = "suppress", "", "", ""
    if isinstance(effect_raw, dict):
        if set(effect_raw) - {"level", "note", "assertion"} or not ({"level", "assertion"} & set(effect_raw)):
            out.error(marks.value(*kp, "effect"), f"exception '{name}': effect must be 'suppress' or {{level: <level>, assertion: <class>, note: <text>}}", rule)
        assertion = str(effect_raw.get("assertion", ""))
        if assertion and assertion not in ASSERTIONS:
            out.error(marks.value(*kp, "effect", "assertion"), f"exception '{name}': unknown assertion '{assertion}' (use {', '.join(ASSERTIONS)})", rule)
        level = str(effect_raw.get("level", ""))
        note = str(effect_raw.get("note", assertion or name))
        effect = "lower" if level else "annotate"
        if level and level not in LEVELS:
            out.error(marks.value(*kp, "effect", "level"), f"exception '{name}': unknown level '{level}' (use {', '.join(LEVELS)})", rule)
    elif effect_raw != "suppress":
        out.error(marks.value(*kp, "effect"), f"exception '{name}': effect must be 'suppress' or {{level: <level>, note: <text>}}", rule)
    if cues is None:
        return None
    return ExceptionSpec(name=name, cues=cues, of=of, within=within, direction=direction, effect=effect,
                         level=level, note=note, assertion=assertion, location=loc)


def _parse_test(i: int, raw: Any, marks: Marks, patterns: dict[str, PatternSpec], exc_names: set[str],
                out: Collector, rule: str) -> RuleTest | None:
    kp = ("tests", i)
    if not isinstance(raw, dict):
        out.error(marks.value(*kp), "a test must be a mapping with text and match", rule)
        return None
    unknown_keys(raw, TEST_KEYS, marks, kp, "test", out, rule)
    text, match = raw.get("text"), raw.get("match")
    if not isinstance(text, str) or not text.strip():
        out.error(marks.value(*kp, "text"), "test needs a non-empty 'text'", rule)
        return None
    if not isinstance(match, bool):
        out.error(marks.value(*kp, "match"), "test needs 'match: true' or 'match: false'", rule)
        return None
    level = raw.get("level", "")
    if level and level not in LEVELS:
        out.error(marks.value(*kp, "level"), f"test level '{level}' is not one of {', '.join(LEVELS)}", rule)
    captures: dict[str, tuple[str, ...]] = {}
    raw_caps = raw.get("captures") or {}
    if not isinstance(raw_caps, dict):
        out.error(marks.value(*kp, "captures"), "test captures must map pattern names to expected values", rule)
        raw_caps = {}
    for name, values in raw_caps.items():
        if str(name).split(".", 1)[0] not in patterns:
            out.error(marks.key(*kp, "captures", name), f"test captures unknown pattern '{name}'", rule)
        captures[name] = str_list(values, marks.value(*kp, "captures", name), f"captures of '{name}'", out, rule)
    roles: dict[str, str] = {}
    raw_roles = raw.get("roles") or {}
    if not isinstance(raw_roles, dict) or set(raw_roles) - {"supplier", "recipient", "item"}:
        out.error(marks.value(*kp, "roles"), "test roles must map supplier, recipient or item to an expected id ('' for none)", rule)
        raw_roles = {}
    for key, value in raw_roles.items():
        roles[key] = "" if value is None else str(value)
    assertion = raw.get("assertion", "")
    if assertion and assertion not in ASSERTIONS:
        out.error(marks.value(*kp, "assertion"), f"test assertion '{assertion}' is not one of {', '.join(ASSERTIONS)}", rule)
    because = raw.get("because", "")
    if because and because not in exc_names:
        out.error(marks.value(*kp, "because"), f"test expects unknown exception '{because}'", rule)
    return RuleTest(text=text, match=match, level=str(level), captures=captures, because=str(because),
                    title=str(raw.get("title", "")), published_at=str(raw.get("published_at", "")),
                    roles=roles, assertion=str(assertion), location=marks.value(*kp),
                    regimes=str_list(raw["regimes"], marks.value(*kp, "regimes"), "test regimes", out, rule)
                    if "regimes" in raw else None)


def _parse_rule(data: dict[str, Any], marks: Marks, lists: dict[str, TermList], out: Collector) -> Rule | None:
    rid = document_id(data, marks, out, "rule", RULE_KEYS, RULE_REQUIRED)
    if rid is None:
        return None
    rule = rid
    level = data["level"]
    if level not in LEVELS:
        out.error(marks.value("level"), f"unknown level '{level}' (use {', '.join(LEVELS)})", rule)
    status = data.get("status", "experimental")
    if status not in STATUSES:
        out.error(marks.value("status"), f"unknown status '{status}' (use {', '.join(STATUSES)})", rule)
    scope = _parse_scope(data["scope"], marks, out, rule)
    raw_patterns = data["patterns"]
    patterns: dict[str, PatternSpec] = {}
    if not isinstance(raw_patterns, dict) or not raw_patterns:
        out.error(marks.value("patterns"), "patterns must be a non-empty mapping of name: matcher", rule)
        return None
    for name, raw in raw_patterns.items():
        if not isinstance(name, str) or not ID_RE.match(name):
            out.error(marks.key("patterns", name), f"pattern name must match {ID_RE.pattern}, got {name!r}", rule)
            continue
        spec = parse_pattern(name, raw, marks, ("patterns", name), lists, out, rule)
        if spec is not None:
            patterns[name] = spec
    near: list[Near] = []
    match = parse_match(data["match"], marks, ("match",), patterns, out, rule, near)
    raw_exc = data.get("exceptions") or []
    if not isinstance(raw_exc, list):
        out.error(marks.value("exceptions"), "exceptions must be a list", rule)
        raw_exc = []
    exceptions = [e for i, r in enumerate(raw_exc) if (e := _parse_exception(i, r, marks, patterns, lists, out, rule))]
    roles = parse_roles(data["roles"], marks, patterns, lists, out, rule) if "roles" in data else None
    regimes = parse_regimes(data["regimes"], marks, patterns, out, rule) if "regimes" in data else None
    assertion = data.get("assertion", "")
    if assertion and assertion not in ASSERTIONS:
        out.error(marks.value("assertion"), f"unknown assertion '{assertion}' (use {', '.join(ASSERTIONS)})", rule)
        assertion = ""
    names = [e.name for e in exceptions]
    for dup in {n for n in names if names.count(n) > 1}:
        out.error(marks.value("exceptions"), f"duplicate exception name '{dup}'", rule)
    message = data.get("message", "{title}: {evidence}")
    if not isinstance(message, str):
        out.error(marks.value("message"), "message must be a string", rule)
        message = "{title}: {evidence}"
    used = refs(match) | {p for e in exceptions for p in e.of} | {m.group(1) for m in PLACEHOLDER_RE.finditer(message)}
    if roles is not None:
        used |= {roles.party, roles.item} | {el.pattern for t in roles.templates for el in t.elements}
        used |= set(roles.fallback.values()) | {roles.barrier}
    if regimes is not None:
        used |= set(regimes.of)
    for name in patterns:
        if name not in used:
            out.warn(marks.key("patterns", name), f"pattern '{name}' is never used in match, exceptions or message", rule)
    for m in PLACEHOLDER_RE.finditer(message):
        if m.group(1) not in patterns and m.group(1) not in SPECIAL_PLACEHOLDERS:
            out.error(marks.value("message"), f"message placeholder '{{{m.group(1)}}}' is not a pattern name or one of {', '.join(sorted(SPECIAL_PLACEHOLDERS))}", rule)
    raw_tests = data.get("tests") or []
    if not isinstance(raw_tests, list):
        out.error(marks.value("tests"), "tests must be a list", rule)
        raw_tests = []
    tests = [t for i, r in enumerate(raw_tests) if (t := _parse_test(i, r, marks, patterns, set(names), out, rule))]
    if not tests:
        out.warn(marks.key("id"), "rule has no inline tests", rule)
    if match is None:
        return None
    used_lists = sorted({p.list_id for p in patterns.values() if p.kind == "list"} |
                        {e.cues.list_id for e in exceptions if e.cues.kind == "list"})
    version = digest([data, [lists[x].digest for x in used_lists if x in lists]])[:12]
    return Rule(id=rid, title=str(data["title"]), description=str(data.get("description", "")), level=str(level),
                status=str(status), tags=str_list(data.get("tags"), marks.value("tags"), "tags", out, rule),
                references=str_list(data.get("references"), marks.value("references"), "references", out, rule),
                author=str(data.get("author", "")), scope=scope, patterns=patterns, match=match,
                exceptions=tuple(exceptions), message=message, tests=tuple(tests), location=marks.value(),
                version=version, roles=roles, assertion=str(assertion), regimes=regimes)


def _documents(files: list[Path], out: Collector) -> list[tuple[str, YamlDocument]]:
    docs: list[tuple[str, YamlDocument]] = []
    for f in files:
        try:
            parsed = load_yaml_file(f, RuleError)
        except RuleError as exc:
            out.error(exc.location or Location(str(f)), exc.message)
            continue
        for doc in parsed:
            if doc.data is None:
                continue
            if not isinstance(doc.data, dict):
                out.error(doc.start, "a rule file document must be a mapping with a 'kind' key")
                continue
            kind = doc.data.get("kind")
            if kind not in KINDS:
                out.error(doc.marks.value("kind") if "kind" in doc.data else doc.start,
                          f"'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
                continue
            docs.append((kind, doc))
    return docs


def _load(paths: list[str | Path], fail_fast: bool) -> RuleSet:
    out = Collector(fail_fast)
    files = discover_rule_files(paths)
    for p in map(Path, paths):
        if not p.exists():
            out.error(Location(str(p)), "rules path does not exist")
    docs = _documents([f for f in files if f.exists()], out)
    lists: dict[str, TermList] = {}
    for kind, doc in docs:
        if kind == "list":
            tl = parse_list(doc.data, doc.marks, out)
            if tl is None:
                continue
            if tl.id in lists:
                out.error(doc.marks.value("id"), f"duplicate list id '{tl.id}' (first defined at {lists[tl.id].location})")
                continue
            lists[tl.id] = tl
            check_measures(tl, out)
    rules: list[Rule] = []
    seen: dict[str, Location] = {}
    for kind, doc in docs:
        if kind != "rule":
            continue
        rule = _parse_rule(doc.data, doc.marks, lists, out)
        if rule is None:
            continue
        if rule.id in seen:
            out.error(doc.marks.value("id"), f"duplicate rule id '{rule.id}' (first defined at {seen[rule.id]})")
            continue
        seen[rule.id] = rule.location
        rules.append(rule)
    correlations = _correlations(docs, set(seen), out)
    if not rules and not out.issues:
        out.error(Location(", ".join(map(str, paths)) or "."), "no rules found (expected YAML files with 'kind: rule')")
    version = hashlib.sha256("|".join(sorted(f"{r.id}@{r.version}" for r in rules if r.enabled)).encode()).hexdigest()[:12]
    return RuleSet(rules=rules, lists=lists, version=version, issues=out.issues, files=[str(f) for f in files],
                   correlations=correlations)


def _correlations(docs: list[tuple[str, YamlDocument]], rule_ids: set[str], out: Collector) -> list[Correlation]:
    parsed = [(c, doc.marks) for kind, doc in docs
              if kind == "correlation" and (c := parse_correlation(doc.data, doc.marks, out)) is not None]
    return check_correlations(parsed, rule_ids, out)


def load_rules(paths: list[str | Path]) -> RuleSet:
    """Load and validate every rule and list under ``paths``; raise the first error."""
    return _load(paths, fail_fast=True)


def lint_rules(paths: list[str | Path]) -> tuple[RuleSet, list[Issue]]:
    """Load everything that can be loaded and return every problem found (errors and warnings)."""
    ruleset = _load(paths, fail_fast=False)
    return ruleset, ruleset.issues
