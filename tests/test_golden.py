"""Golden compiled rulesets: the durable-rules JSON that ``compile_ruleset`` emits.

A change of the compiler or of a rule folder below changes a golden file. If the
change is intended, run ``python tests/regen_golden.py``, review the diff of
``tests/golden/*.json`` and commit it.

The last tests check that the golden JSON means what it says: the real engine,
fed hand-written facts, fires exactly the durable rules whose golden conditions
hold for those facts.
"""

from __future__ import annotations

import difflib
import importlib.util
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from monitor.engine import Engine, compile_ruleset
from monitor.facts import _near_nodes
from monitor.rules import lint_rules, load_rules
from monitor.ruletest import run_rule_tests

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden"
REGEN = "python tests/regen_golden.py"

_spec = importlib.util.spec_from_file_location("regen_golden", REPO / "tests" / "regen_golden.py")
assert _spec is not None and _spec.loader is not None
regen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(regen)

FIXTURES = ["tests/data/rules/valid/combinators", "tests/data/rules/valid/exceptions"]


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def _golden(filename: str) -> dict[str, Any]:
    path = GOLDEN / filename
    assert path.is_file(), f"{path.relative_to(REPO)} is missing: run `{REGEN}` to create it"
    return json.loads(path.read_text(encoding="utf-8"))


def _golden_for(sources: list[str]) -> dict[str, Any]:
    for filename, srcs in regen.CASES.items():
        if srcs == sources:
            return _golden(filename)
    raise AssertionError(f"no golden case for {sources}")


# ---------------------------------------------------------------- golden comparison

def test_golden_cases_cover_the_default_rules_and_both_fixture_folders() -> None:
    assert sorted(map(tuple, regen.CASES.values())) == sorted([("rules",), *((f,) for f in FIXTURES)])
    assert sorted(p.name for p in GOLDEN.glob("*.json")) == sorted(regen.CASES)


@pytest.mark.parametrize("filename", sorted(regen.CASES))
def test_compiled_ruleset_matches_golden(filename: str) -> None:
    sources = regen.CASES[filename]
    want = _golden(filename)
    got = regen.compiled(sources)
    if got != want:
        diff = "\n".join(itertools.islice(difflib.unified_diff(
            regen.render(want).splitlines(), regen.render(got).splitlines(),
            f"tests/golden/{filename} (golden)", f"compile_ruleset(load_rules({sources})) (now)", lineterm=""), 80))
        pytest.fail(
            f"the compiled durable-rules JSON for {sources} no longer matches tests/golden/{filename}.\n"
            f"If this change is intended, run `{REGEN}`, review the diff and commit the golden file.\n{diff}",
            pytrace=False)


@pytest.mark.parametrize("filename", sorted(regen.CASES))
def test_golden_file_is_in_canonical_form(filename: str) -> None:
    # A hand-edited golden would compare equal yet diff noisily on the next regen.
    path = GOLDEN / filename
    assert path.read_text(encoding="utf-8") == regen.render(_golden(filename)), \
        f"tests/golden/{filename} was edited by hand: run `{REGEN}`"


@pytest.mark.parametrize("sources", [["rules"], *([f] for f in FIXTURES)], ids=["rules", "combinators", "exceptions"])
def test_compiled_ruleset_is_named_after_the_ruleset_version(sources: list[str]) -> None:
    ruleset = load_rules(sources)
    compiled = compile_ruleset(ruleset)
    assert list(compiled) == [f"monitor_{ruleset.version}"]
    assert len(ruleset.version) == 12
    assert compiled == compile_ruleset(load_rules(sources)), "compiling twice must give the same JSON"


@pytest.mark.parametrize("filename", sorted(regen.CASES))
def test_golden_durable_rule_names_match_their_actions(filename: str) -> None:
    """``<id>`` runs match, ``<id>!<exc>`` runs suppress, ``<id>~<exc>`` runs lower."""
    rules = _golden(filename)["rules"]
    ruleset = load_rules(regen.CASES[filename])
    expected_names = {"_seen"}
    for rule in ruleset.enabled_rules:
        expected_names.add(rule.id)
        for exc in rule.exceptions:
            expected_names.add(f"{rule.id}{'!' if exc.effect == 'suppress' else '~'}{exc.name}")
    assert set(rules) == expected_names
    for name, body in rules.items():
        assert set(body) == {"all", "run"} and len(body["all"]) == 1 and set(body["all"][0]) == {"m"}, name
        assert body["run"] == _run_of(name), name


def _run_of(name: str) -> str:
    if name == "_seen":
        return "seen||"
    if "!" in name:
        rule, exc = name.split("!")
        return f"suppress|{rule}|{exc}"
    if "~" in name:
        rule, exc = name.split("~")
        return f"lower|{rule}|{exc}"
    return f"match|{name}|"


@pytest.mark.parametrize("folder", FIXTURES)
def test_fixture_folders_lint_clean_and_their_inline_tests_pass(folder: str) -> None:
    _, issues = lint_rules([folder])
    assert [str(i) for i in issues] == []
    results = run_rule_tests(load_rules([folder]))
    assert len(results) >= 8
    assert [(r.rule, r.index, r.reason) for r in results if not r.passed] == []


def test_fixture_folders_use_every_operator_and_both_exception_effects() -> None:
    comb = json.dumps(_golden("valid_combinators.json")["rules"])
    for op in ('"$and"', '"$or"', '"$lt"', '"$gte"', '"n0": 1', '"n1": 0'):
        assert op in comb, op
    exc = _golden("valid_exceptions.json")["rules"]
    assert any("!" in k for k in exc) and any("~" in k for k in exc)


# ---------------------------------------------------------------- the golden means what it says

def _holds(cond: dict[str, Any], fact: dict[str, Any]) -> bool:
    """A tiny independent reading of the durable-rules JSON conditions the compiler emits."""
    for key, arg in cond.items():
        if key == "$and":
            ok = all(_holds(c, fact) for c in arg)
        elif key == "$or":
            ok = any(_holds(c, fact) for c in arg)
        elif key == "$gte":
            (f, v), = arg.items()
            ok = f in fact and fact[f] >= v
        elif key == "$lt":
            (f, v), = arg.items()
            ok = f in fact and fact[f] < v
        elif key == "$ex":
            ok = all(f in fact for f in arg)
        elif key.startswith("$"):
            raise AssertionError(f"unexpected operator {key} in golden")
        else:
            ok = fact.get(key) == arg
        if not ok:
            return False
    return True


def _name(fired: Any) -> str:
    if fired.kind == "match":
        return fired.rule
    return f"{fired.rule}{'!' if fired.kind == 'suppress' else '~'}{fired.exception}"


def _fields(rule: Any) -> list[str]:
    """The fact fields the fact builder writes for ``rule``."""
    return ([f"p_{p}" for p in rule.patterns] + [f"n{n.index}" for n in _near_nodes(rule.match)]
            + [f"x_{e.name}" for e in rule.exceptions])


@pytest.mark.parametrize("folder", FIXTURES)
def test_engine_fires_exactly_what_the_golden_conditions_say(folder: str) -> None:
    ruleset = load_rules([folder])
    golden = _golden_for([folder])["rules"]
    engine = Engine(ruleset)
    checked = 0
    for rule in ruleset.enabled_rules:
        fields = _fields(rule)
        mine = {k: v for k, v in golden.items() if k == rule.id or k.startswith((f"{rule.id}!", f"{rule.id}~"))}
        referenced = set(itertools.chain.from_iterable(_referenced(v["all"][0]["m"]) for v in mine.values()))
        assert referenced <= set(fields) | {"rule"}, f"golden of {rule.id} reads fields the fact builder never writes"
        facts = []
        for unit, values in enumerate(itertools.product((0, 1), repeat=len(fields))):
            fact = {"rule": rule.id, "unit": unit, **dict(zip(fields, values))}
            # Counts above one must read like one.
            fact.update({f: 2 for f in fields if f.startswith("p_") and fact[f] and unit % 3 == 0})
            facts.append(fact)
        want = {(name, f["unit"]) for f in facts for name, body in mine.items() if _holds(body["all"][0]["m"], f)}
        got = {(_name(x), x.unit) for x in engine.evaluate(facts) if x.rule == rule.id}
        assert got == want, f"{rule.id}: fired but not in golden: {sorted(got - want)[:5]}; golden but not fired: {sorted(want - got)[:5]}"
        assert any(name == rule.id for name, _ in want), f"{rule.id} never fires: a useless fixture"
        checked += len(facts)
    assert checked >= 50


def _referenced(cond: Any) -> set[str]:
    out: set[str] = set()
    if isinstance(cond, dict):
        for key, arg in cond.items():
            if key in ("$and", "$or"):
                for c in arg:
                    out |= _referenced(c)
            elif key in ("$gte", "$lt", "$ex"):
                out |= set(arg)
            else:
                out.add(key)
    return out


def _fire(engine: Engine, *facts: dict[str, Any]) -> set[tuple[str, int]]:
    return {(_name(f), f.unit) for f in engine.evaluate(list(facts))}


def test_hand_written_facts_on_the_combinator_fixture() -> None:
    engine = Engine(load_rules(["tests/data/rules/valid/combinators"]))
    assert _fire(engine, {"rule": "all_of", "unit": 0, "p_state": 1, "p_arms": 2, "p_transfer": 1}) == {("all_of", 0)}
    assert _fire(engine, {"rule": "all_of", "unit": 0, "p_state": 1, "p_arms": 1, "p_transfer": 0}) == set()
    assert _fire(engine, {"rule": "any_of", "unit": 3, "p_arms": 0, "p_money": 1}) == {("any_of", 3)}
    assert _fire(engine, {"rule": "none_of", "unit": 0, "p_state": 1, "p_arms": 0, "p_transfer": 0},
                 {"rule": "none_of", "unit": 1, "p_state": 1, "p_arms": 0, "p_transfer": 1}) == {("none_of", 0)}
    two = [{"rule": "two_of_three", "unit": i, "p_state": s, "p_arms": a, "p_transfer": t}
           for i, (s, a, t) in enumerate([(1, 0, 0), (0, 1, 1), (1, 0, 1), (0, 0, 1), (1, 1, 1)])]
    assert _fire(engine, *two) == {("two_of_three", 1), ("two_of_three", 2), ("two_of_three", 4)}
    near = {"rule": "close_by", "p_arms": 1, "p_transfer": 1, "p_money": 0}
    assert _fire(engine, dict(near, unit=0, n0=1, n1=0),      # near, not paid for: fires
                 dict(near, unit=1, n0=0, n1=0),              # not near
                 dict(near, unit=2, n0=1, n1=1),              # transfer near money
                 dict(near, unit=3, n0=1, n1=0, p_money=1),   # money and arms+money: at_least 2 holds
                 ) == {("close_by", 0)}


def test_hand_written_facts_on_the_exception_fixture() -> None:
    engine = Engine(load_rules(["tests/data/rules/valid/exceptions"]))
    base = {"rule": "transfer_claim", "p_state": 1, "p_arms": 1, "p_transfer": 1}
    quiet = {"x_negated": 0, "x_denied": 0, "x_hypothetical": 0}
    assert _fire(engine, dict(base, unit=0, **quiet)) == {("transfer_claim", 0)}
    assert _fire(engine, dict(base, unit=0, **dict(quiet, x_negated=1))) == {("transfer_claim!negated", 0)}
    assert _fire(engine, dict(base, unit=0, **dict(quiet, x_denied=1))) == \
        {("transfer_claim", 0), ("transfer_claim~denied", 0)}
    # A suppressed unit is not also lowered.
    assert _fire(engine, dict(base, unit=0, **dict(quiet, x_negated=1, x_hypothetical=1))) == \
        {("transfer_claim!negated", 0)}
    # Exceptions never fire on their own: the match condition must hold.
    assert _fire(engine, dict(base, unit=0, p_arms=0, **dict(quiet, x_negated=1, x_denied=1))) == set()
    rumour = {"rule": "arms_rumour", "p_arms": 1, "p_transfer": 1, "n0": 1, "x_film": 1, "x_never": 1, "x_rumour": 0}
    assert _fire(engine, dict(rumour, unit=7)) == {("arms_rumour!film", 7), ("arms_rumour!never", 7)}
