"""Run every rule's inline tests through the production pipeline; never stop at the first failure."""

from __future__ import annotations

from dataclasses import dataclass

from .alerts import roles_of
from .pipeline import Analyzer
from .ruletypes import Rule, RuleSet, RuleTest

__all__ = ["TestResult", "run_rule_tests", "check_test"]


@dataclass
class TestResult:
    rule: str
    index: int
    test: RuleTest
    passed: bool
    outcome: str  # TP, TN, FP, FN (match expectation), or "mismatch" when details differ
    reason: str = ""


def check_test(analyzer: Analyzer, rule: Rule, index: int, test: RuleTest) -> TestResult:
    analysis = analyzer.analyse(test.text, test.title, test.published_at, rules=[rule.id])
    best = analysis.best(rule.id)
    matched = best is not None
    if test.match and not matched:
        suppressed = sorted({e for m in analysis.matches if m.rule.id == rule.id for e in m.suppressed_by})
        why = f"suppressed by exception(s) {', '.join(suppressed)}" if suppressed else "the match conditions did not hold"
        return TestResult(rule.id, index, test, False, "FN", f"expected a match, got none ({why})")
    if not test.match and matched:
        assert best is not None
        return TestResult(rule.id, index, test, False, "FP",
                          f"expected no match, but it fired at level {best.level} on: {analysis.document.text[best.unit.start:best.unit.end]!r}")
    if not test.match:
        if test.because:
            fired_by = {e for m in analysis.matches if m.rule.id == rule.id for e in m.suppressed_by}
            if test.because not in fired_by:
                got = ", ".join(sorted(fired_by)) or "no exception (the conditions did not hold)"
                return TestResult(rule.id, index, test, False, "mismatch",
                                  f"expected exception '{test.because}' to suppress it, got {got}")
        return TestResult(rule.id, index, test, True, "TN")
    assert best is not None
    problems = []
    if test.level and best.level != test.level:
        problems.append(f"level {best.level}, expected {test.level}")
    caps = best.captures()
    for name, expected in test.captures.items():
        got = caps.get(name, [])
        missing = [v for v in expected if v not in got]
        if missing:
            problems.append(f"captures[{name}] = {got}, missing {missing}")
    if test.roles:
        got_roles = roles_of(best)
        for key, want in test.roles.items():
            if got_roles[key] != want:
                problems.append(f"roles.{key} = {got_roles[key]!r}, expected {want!r}")
    if test.regimes is not None and sorted(best.regimes.authorities) != sorted(test.regimes):
        problems.append(f"regimes {best.regimes.authorities}, expected {list(test.regimes)}")
    if test.assertion and best.assertion != test.assertion:
        problems.append(f"assertion {best.assertion or 'none'!r}, expected {test.assertion!r}")
    if problems:
        return TestResult(rule.id, index, test, False, "mismatch", "; ".join(problems))
    return TestResult(rule.id, index, test, True, "TP")


def run_rule_tests(ruleset: RuleSet, analyzer: Analyzer | None = None, rule_ids: list[str] | None = None
                   ) -> list[TestResult]:
    analyzer = analyzer or Analyzer(ruleset)
    results = []
    for rule in ruleset.enabled_rules:
        if rule_ids and rule.id not in rule_ids:
            continue
        for i, test in enumerate(rule.tests):
            try:
                results.append(check_test(analyzer, rule, i, test))
            except Exception as exc:  # report, keep going
                results.append(TestResult(rule.id, i, test, False, "error", f"{type(exc).__name__}: {exc}"))
    return results
