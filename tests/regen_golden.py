"""Rewrite the golden compiled rulesets in ``tests/golden/``.

Run ``python tests/regen_golden.py`` from anywhere after an intended change to the
rule compiler or to one of the rule folders below, review the diff of
``tests/golden/*.json`` and commit it with the change.

Each golden file holds ``monitor.engine.compile_ruleset(load_rules(sources))``.
The compiled dict has one top-level key, ``monitor_<ruleset version hash>``; the
hash changes with any edit of a rule or list (a description, a comment-free
reformat of an alias list...), so the golden keeps it apart from the compiled
rules: ``{"sources": [...], "ruleset_name_prefix": "monitor_", "rules": {...}}``.
``tests/test_golden.py`` checks the name separately against ``RuleSet.version``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden"

# golden file name -> rule paths, relative to the repository root
CASES: dict[str, list[str]] = {
    "default_rules.json": ["rules"],
    "valid_combinators.json": ["tests/data/rules/valid/combinators"],
    "valid_exceptions.json": ["tests/data/rules/valid/exceptions"],
}


def compiled(sources: list[str]) -> dict[str, Any]:
    """The golden payload for ``sources`` (paths relative to the repository root)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from monitor.engine import compile_ruleset
    from monitor.rules import load_rules

    old = os.getcwd()
    os.chdir(REPO)  # stable relative paths whatever the caller's cwd
    try:
        ruleset = load_rules(list(sources))
    finally:
        os.chdir(old)
    full = compile_ruleset(ruleset)
    (name, rules), = full.items()
    prefix = "monitor_"
    assert name == f"{prefix}{ruleset.version}", name
    # A JSON round trip so the payload compares equal to what json.load returns.
    return json.loads(json.dumps({"sources": list(sources), "ruleset_name_prefix": prefix, "rules": rules}))


def render(payload: dict[str, Any]) -> str:
    return json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for filename, sources in CASES.items():
        path = GOLDEN / filename
        text = render(compiled(sources))
        old = path.read_text(encoding="utf-8") if path.exists() else None
        path.write_text(text, encoding="utf-8")
        state = "unchanged" if old == text else ("created" if old is None else "UPDATED")
        print(f"{state:9} {path.relative_to(REPO)}  ({len(json.loads(text)['rules'])} durable rules)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
