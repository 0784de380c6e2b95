"""Rules hot reload: notice changed rule and list files, and validate a new ruleset before it runs.

A ruleset replaces the running one only when it loads, lints without errors and
passes every inline test; otherwise the caller keeps the last good one.
"""

from __future__ import annotations

from pathlib import Path

from .errors import MonitorError
from .parse import discover_rule_files
from .pipeline import Analyzer
from .rules import lint_rules
from .ruletest import run_rule_tests

__all__ = ["rules_fingerprint", "validate_ruleset"]


def rules_fingerprint(paths: list[Path]) -> tuple[tuple[str, int, int], ...]:
    """Path, mtime and size of every rule and list file: changes when any file is edited, added or removed."""
    out = []
    for f in discover_rule_files(list(paths)):
        try:
            st = f.stat()
            out.append((str(f), st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((str(f), -1, -1))
    return tuple(out)


def validate_ruleset(paths: list[Path]) -> tuple[Analyzer | None, list[tuple[str, str]]]:
    """Load, lint and run the inline tests of the rules under ``paths``.

    Returns ``(analyzer, [])`` when everything passes, else ``(None, [(location, message), ...])``.
    """
    try:
        ruleset, issues = lint_rules(list(paths))
    except MonitorError as exc:
        return None, [(str(exc.location or ""), str(exc))]
    errors = [(str(i.location) if getattr(i, "location", None) else "", str(i))
              for i in issues if i.severity == "error"]
    if errors:
        return None, errors
    try:
        analyzer = Analyzer(ruleset)
    except MonitorError as exc:
        return None, [(str(exc.location or ""), str(exc))]
    failed = [r for r in run_rule_tests(ruleset, analyzer) if not r.passed]
    if failed:
        return None, [(str(r.test.location or ""),
                       f"{r.test.location}: rule '{r.rule}' test {r.index + 1} failed: {r.reason}") for r in failed]
    return analyzer, []
