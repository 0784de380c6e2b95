"""Rule loading errors: one small bad file per error kind, exact ``path:line:col: message``.

Every file in ``tests/data/rules/invalid/`` starts with ``# expect: <line>``: the
exact ``str()`` of the :class:`~monitor.errors.RuleError` that
``load_rules(["tests/data/rules/invalid/<file>"])`` raises, run from the
repository root.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import RuleError
from monitor.rules import lint_rules, load_rules

REPO = Path(__file__).resolve().parent.parent
INVALID = REPO / "tests" / "data" / "rules" / "invalid"
FILES = sorted(p.name for p in INVALID.glob("*.yaml"))

# The error kinds the suite must keep covering (file stem -> what is wrong).
REQUIRED_KINDS = {
    "yaml_syntax": "YAML syntax error",
    "duplicate_key": "duplicate YAML key",
    "unknown_rule_key": "unknown top-level rule key (exeptions:)",
    "unknown_pattern_key": "unknown key inside a pattern",
    "unknown_list": "unknown list reference",
    "unknown_match_pattern": "unknown pattern in match",
    "unknown_near_pattern": "unknown pattern in a near clause",
    "bad_regex": "invalid RE2 regex",
    "duplicate_rule_id": "duplicate rule id",
    "duplicate_list_id": "duplicate list id",
    "invalid_level": "invalid level",
    "invalid_scope": "invalid scope",
    "missing_required": "missing required key",
    "unknown_effect": "exception with an unknown effect",
    "unknown_placeholder": "message with an unknown placeholder",
    "unknown_because": "test expecting an unknown exception",
    "duplicate_alias": "one alias in two entries",
    "duplicate_alias_normalised": "one alias in two entries, spelled with diacritics / curly apostrophe",
    "unknown_entry": "unknown entry in entries:",
    "where_no_entry": "where: that no entry satisfies",
    "rule_named_like_pattern": "rule prefix kept when the rule id equals a pattern name",
}


def _expected(name: str) -> str:
    first = (INVALID / name).read_text(encoding="utf-8").split("\n", 1)[0]
    assert first.startswith("# expect: "), f"{name}: first line must be '# expect: <error line>'"
    return first[len("# expect: "):]


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def test_every_required_error_kind_has_a_file() -> None:
    stems = {Path(f).stem for f in FILES}
    missing = {k: v for k, v in REQUIRED_KINDS.items() if k not in stems}
    assert not missing
    assert len(FILES) >= 19


@pytest.mark.parametrize("name", FILES)
def test_load_rules_raises_the_expected_error(name: str) -> None:
    expected = _expected(name)
    rel = f"tests/data/rules/invalid/{name}"
    assert expected.startswith(f"{rel}:"), "the expected line must start with the file's relative path"
    with pytest.raises(RuleError) as info:
        load_rules([rel])
    assert str(info.value) == expected
    assert info.value.location is not None and info.value.location.path == rel
    assert info.value.location.line >= 2  # line 1 is the '# expect' comment


@pytest.mark.parametrize("name", FILES)
def test_lint_reports_the_same_problem_as_an_error(name: str) -> None:
    """``lint_rules`` finds the problem ``load_rules`` stops at (same place, same message)."""
    expected = _expected(name)
    _, issues = lint_rules([f"tests/data/rules/invalid/{name}"])
    errors = [i for i in issues if i.severity == "error"]
    assert errors, "lint found no error"
    assert any(expected.startswith(f"{i.location}: ") and expected.endswith(i.message) for i in errors), \
        [str(i) for i in errors]


def test_load_rules_on_the_whole_folder_stops_at_the_first_yaml_error() -> None:
    # Files are read in sorted order and every file is parsed as YAML before any list or
    # rule is validated, so the first YAML-level error (duplicate_key.yaml) wins.
    with pytest.raises(RuleError) as info:
        load_rules(["tests/data/rules/invalid"])
    assert str(info.value) == _expected("duplicate_key.yaml")


# ---------------------------------------------------------------- lint: every problem, not just the first

BROKEN_RULES = """\
kind: rule
id: first
title: First broken rule
level: severe
scope: sentence
patterns:
  arms: {terms: [rifles]}
  spare: {terms: [spare parts]}
match: arms
exeptions: []
---
kind: rule
id: second
title: Second broken rule
level: high
scope: {window: 1}
patterns:
  arms: {terms: [rifles]}
match:
  near: {patterns: [arms, sold], within: 3}
tests:
  - text: "Rifles were sold."
    match: true
"""

BROKEN_LISTS = """\
kind: list
id: places
entries:
  - id: IRN
    aliases: [Iran]
  - id: PER
    aliases: [IRAN]
---
kind: rule
id: third
title: Third broken rule
level: high
scope: sentence
patterns:
  state: {list: states}
  place: {list: places, where: {embargo: true}}
match: {any: [state, place]}
message: "{country} seen"
tests:
  - text: "Iran."
    match: true
    because: negated
"""


def test_lint_reports_every_problem_in_every_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lint = tmp_path / "lintdir"
    lint.mkdir()
    (lint / "a_rules.yaml").write_text(BROKEN_RULES, encoding="utf-8")
    (lint / "b_lists.yaml").write_text(BROKEN_LISTS, encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    ruleset, issues = lint_rules(["lintdir"])
    assert issues is ruleset.issues
    got = {(str(i.location), i.severity, i.rule, i.message) for i in issues}
    a, b = "lintdir/a_rules.yaml", "lintdir/b_lists.yaml"
    expected = {
        (f"{a}:10:1", "error", "first", "unknown key 'exeptions' in rule (allowed: assertion, author, description, exceptions, "
                                        "id, kind, level, match, message, patterns, references, regimes, roles, scope, status, tags, tests, title)"),
        (f"{a}:4:8", "error", "first", "unknown level 'severe' (use info, low, medium, high, critical)"),
        (f"{a}:8:3", "warning", "first", "pattern 'spare' is never used in match, exceptions or message"),
        (f"{a}:2:1", "warning", "first", "rule has no inline tests"),
        (f"{a}:16:17", "error", "second", "scope window must be a number of words between 2 and 500"),
        (f"{a}:20:20", "error", "second", "near refers to unknown pattern 'sold'"),
        # A cascade: the broken near clause is dropped, so 'arms' looks unused.
        (f"{a}:18:3", "warning", "second", "pattern 'arms' is never used in match, exceptions or message"),
        (f"{b}:7:14", "error", "", "list 'places': alias 'IRAN' of entry 'PER' is also an alias of entry 'IRN'"),
        (f"{b}:15:17", "error", "third", "pattern 'state' refers to unknown list 'states' (known lists: places)"),
        (f"{b}:16:32", "error", "third", "pattern 'place': no entry of list 'places' satisfies where {'embargo': True}"),
        (f"{b}:17:15", "error", "third", "match refers to unknown pattern 'state' (patterns: place)"),
        (f"{b}:18:10", "error", "third", "message placeholder '{country}' is not a pattern name or one of assertion, evidence, item, level, recipient, regimes, resolutions, rule, supplier, title"),
        (f"{b}:22:14", "error", "third", "test expects unknown exception 'negated'"),
    }
    assert got == expected
    # Both files, both severities, and nothing reported twice.
    assert {str(i.location).split(":")[0] for i in issues} == {a, b}
    assert len(issues) == len(got)
    # Issues render like the CLI prints them; warnings say so.
    rendered = [str(i) for i in issues]
    assert f"{a}:8:3: warning: rule 'first': pattern 'spare' is never used in match, exceptions or message" in rendered
    assert f"{b}:18:10: rule 'third': message placeholder '{{country}}' is not a pattern name or one of assertion, evidence, item, level, recipient, regimes, resolutions, rule, supplier, title" in rendered
    # load_rules stops at the first error: lists are validated before rules, whatever the file order.
    with pytest.raises(RuleError) as info:
        load_rules(["lintdir"])
    assert str(info.value) == f"{b}:7:14: list 'places': alias 'IRAN' of entry 'PER' is also an alias of entry 'IRN'"
    (lint / "b_lists.yaml").write_text(BROKEN_LISTS.replace("[IRAN]", "[Persia]"), encoding="utf-8")
    with pytest.raises(RuleError) as info:
        load_rules(["lintdir"])
    assert str(info.value) == (f"{a}:10:1: rule 'first': unknown key 'exeptions' in rule (allowed: assertion, author, description, "
                               "exceptions, id, kind, level, match, message, patterns, references, regimes, roles, scope, status, tags, "
                               "tests, title)")


def test_warnings_do_not_stop_loading_and_are_reported_as_warnings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ok.yaml").write_text("""\
kind: rule
id: untested
title: Loads, with two warnings
level: low
scope: sentence
patterns:
  arms: {terms: [rifles]}
  unused: {terms: [spare parts]}
  quoted: {terms: [ammunition]}
match: arms
message: "{title}: {quoted}"
""", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    ruleset = load_rules(["ok.yaml"])  # warnings never raise
    assert [r.id for r in ruleset.rules] == ["untested"]
    _, issues = lint_rules(["ok.yaml"])
    assert [(str(i.location), i.severity, i.message) for i in issues] == [
        ("ok.yaml:8:3", "warning", "pattern 'unused' is never used in match, exceptions or message"),
        ("ok.yaml:2:1", "warning", "rule has no inline tests"),
    ]
    assert [str(i) for i in issues] == [
        "ok.yaml:8:3: warning: rule 'untested': pattern 'unused' is never used in match, exceptions or message",
        "ok.yaml:2:1: warning: rule 'untested': rule has no inline tests",
    ]
    assert ruleset.issues == issues
