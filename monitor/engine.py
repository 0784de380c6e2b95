"""The only module that imports ``durable``: compile rules to durable-rules and evaluate facts.

A rule's ``match`` tree compiles to one durable-rules condition over a *fact*
that the fact builder computes per scope unit (pattern counts ``p_<name>``,
proximity flags ``n<i>``, exception flags ``x_<name>``). Each rule becomes:

* ``<id>``: the condition holds and no suppressing exception fired -> ``match``
* ``<id>!<exception>``: the condition holds and that suppressing exception fired -> ``suppress``
* ``<id>~<exception>``: a match that a level-lowering exception qualifies -> ``lower``
  (exceptions that only set the assertion class, effect ``annotate``, compile the same way;
  the pipeline leaves the level alone for them)

Role facts ``r_<name>`` (supplier, recipient, dyad, sanctioned, in_force) are
computed in Python before the engine (:mod:`monitor.roles`); a ``roles:``
clause tests them like any other fact field.

durable-rules sharp edges handled here (see LIBS.md): facts are asserted (every
matching rule fires), one sid per article and ``delete_state`` after it (the
engine holds at most 1,024 live sids), no ``post_batch``, no ``$mt``/``$imt``,
ruleset names are versioned (a name cannot be registered twice), the host's
background timer threads are never started, actions only append to a list, and
``MessageNotHandledException`` is normal flow.
"""

from __future__ import annotations

import copy
import hashlib
import json
import itertools
import threading
from dataclasses import dataclass
from typing import Any

from durable import engine as _durable

from .errors import EngineError
from .ruletypes import All, AnyOf, AtLeast, MatchNode, Near, Not, Ref, RoleRef, Rule, RuleSet

__all__ = ["Fired", "Engine", "compile_ruleset", "compile_condition", "CorrelationEngine", "compile_correlations"]

Cond = dict[str, Any]


@dataclass(frozen=True)
class Fired:
    kind: str  # match | suppress | lower
    rule: str
    exception: str
    unit: int


def _and(items: list[Cond]) -> Cond:
    return items[0] if len(items) == 1 else {"$and": items}


def _or(items: list[Cond]) -> Cond:
    return items[0] if len(items) == 1 else {"$or": items}


def _negate(node: MatchNode) -> MatchNode:
    if isinstance(node, Not):
        return node.child
    if isinstance(node, All):
        return AnyOf(tuple(Not(c) for c in node.children))
    if isinstance(node, AnyOf):
        return All(tuple(Not(c) for c in node.children))
    if isinstance(node, AtLeast):
        k = len(node.children)
        return AtLeast(k - node.n + 1, tuple(Not(c) for c in node.children))
    return Not(node)


def compile_condition(node: MatchNode) -> Cond:
    """A match tree as a durable-rules JSON condition over fact fields."""
    if isinstance(node, Ref):
        return {"$gte": {f"p_{node.name}": 1}}
    if isinstance(node, Near):
        return {f"n{node.index}": 1}
    if isinstance(node, RoleRef):
        return {f"r_{node.name}": 1}
    if isinstance(node, All):
        return _and([compile_condition(c) for c in node.children])
    if isinstance(node, AnyOf):
        return _or([compile_condition(c) for c in node.children])
    if isinstance(node, AtLeast):
        combos = itertools.combinations(node.children, node.n)
        return _or([_and([compile_condition(c) for c in combo]) for combo in combos])
    if isinstance(node, Not):
        child = node.child
        if isinstance(child, Ref):
            return {"$lt": {f"p_{child.name}": 1}}
        if isinstance(child, Near):
            return {f"n{child.index}": 0}
        if isinstance(child, RoleRef):
            return {f"r_{child.name}": 0}
        return compile_condition(_negate(child))
    raise EngineError(f"cannot compile match node {node!r}")


def _compile_rule(rule: Rule) -> dict[str, Any]:
    cond = compile_condition(rule.match)
    base = [{"rule": rule.id}, cond]
    suppress = [e for e in rule.exceptions if e.effect == "suppress"]
    none_suppress = [{f"x_{e.name}": 0} for e in suppress]
    out: dict[str, Any] = {rule.id: {"all": [{"m": _and(base + none_suppress)}], "run": f"match|{rule.id}|"}}
    for e in suppress:
        out[f"{rule.id}!{e.name}"] = {"all": [{"m": _and(base + [{f"x_{e.name}": 1}])}],
                                      "run": f"suppress|{rule.id}|{e.name}"}
    for e in rule.exceptions:
        if e.effect in ("lower", "annotate"):
            out[f"{rule.id}~{e.name}"] = {"all": [{"m": _and(base + none_suppress + [{f"x_{e.name}": 1}])}],
                                          "run": f"lower|{rule.id}|{e.name}"}
    return out


def ruleset_name(ruleset: RuleSet) -> str:
    return f"monitor_{ruleset.version}"


def compile_ruleset(ruleset: RuleSet) -> dict[str, Any]:
    """The durable-rules JSON for every enabled rule, under a versioned ruleset name."""
    rules: dict[str, Any] = {}
    for rule in ruleset.enabled_rules:
        rules.update(_compile_rule(rule))
    if rules:
        # Every fact must be handled: durable-rules 2.0.28 corrupts memory (double free) when
        # delete_state follows an assert that no rule handled, so a catch-all rule sees them all.
        rules["_seen"] = {"all": [{"m": {"$ex": {"rule": 1}}}], "run": "seen||"}
    return {ruleset_name(ruleset): rules}


class _Host(_durable.Host):
    """A durable host with no background dispatcher threads and name-routed actions."""

    def __init__(self) -> None:
        self.collected: list[Fired] = []
        super().__init__()

    def _run(self) -> None:  # no timer threads: we never use durable timers
        return None

    def get_action(self, action_name: str) -> Any:
        kind, rule, exception = action_name.split("|")
        host = self

        def action(c: Any) -> None:
            if kind == "seen":
                return
            try:
                host.collected.append(Fired(kind, rule, exception, int(c.m._d["unit"])))
            except Exception:  # durable swallows action errors; never let one escape silently
                host.collected.append(Fired("error", rule, exception, -1))

        return action


_HOST: _Host | None = None
_LOCK = threading.RLock()
_SID = itertools.count()


def _host() -> _Host:
    global _HOST
    if _HOST is None:
        _HOST = _Host()
    return _HOST


class Engine:
    """Evaluates facts against one compiled ruleset. Thread-safe (calls are serialised)."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self.definition = compile_ruleset(ruleset)
        self.name = ruleset_name(ruleset)
        self._register("the compiled ruleset")

    def _register(self, what: str) -> None:
        """Register ``self.definition`` on the shared host once per name (names carry the version)."""
        with _LOCK:
            host = _host()
            if self.name not in host._ruleset_directory and self.definition[self.name]:
                try:
                    host.set_rulesets(copy.deepcopy(self.definition))
                except Exception as exc:
                    raise EngineError(f"durable-rules rejected {what}: {exc}") from exc

    def evaluate(self, facts: list[dict[str, Any]]) -> list[Fired]:
        """Assert ``facts`` (one article) under a fresh sid; return what fired."""
        if not facts or not self.definition[self.name]:
            return []
        with _LOCK:
            host = _host()
            sid = f"s{next(_SID)}"
            host.collected = []
            stored = False
            try:
                for i, fact in enumerate(facts):
                    message = dict(fact, sid=sid, id=f"f{i}")
                    try:
                        host.assert_fact(self.name, message)
                        stored = True
                    except _durable.MessageNotHandledException:  # cannot happen with the catch-all rule
                        pass
                    except _durable.MessageObservedException:  # identical fact already asserted
                        pass
            except Exception as exc:
                raise EngineError(f"durable-rules failed while evaluating: {exc}") from exc
            finally:
                if stored:  # only a sid that holds state may be deleted (see compile_ruleset)
                    host.delete_state(self.name, sid)
            fired = host.collected
            host.collected = []
        errors = [f for f in fired if f.kind == "error"]
        if errors:
            raise EngineError(f"rule action failed for rule '{errors[0].rule}'")
        return fired


# ------------------------------------------------------------------ correlations (kind: correlation)
# One fact per (correlation, group) that a new alert touched: {"corr", "sources", "fired", "unit"}.
# The counting (independent sources in the window) is SQL over SQLite; durable-rules decides which
# correlations fire; "fired" is persisted in SQLite, so the engine stays stateless and a restart
# restores nothing.


def compile_correlations(correlations: list[Any]) -> dict[str, Any]:
    """The durable-rules JSON for every enabled correlation, under a content-versioned ruleset name."""
    rules: dict[str, Any] = {}
    for c in correlations:
        if not c.enabled:
            continue
        cond = {"$and": [{"corr": c.id}, {"$gte": {"sources": c.threshold}}, {"fired": 0}]}
        rules[c.id] = {"all": [{"m": cond}], "run": f"correlate|{c.id}|"}
    if rules:
        rules["_seen"] = {"all": [{"m": {"$ex": {"corr": 1}}}], "run": "seen||"}
    version = hashlib.sha256(json.dumps(rules, sort_keys=True).encode()).hexdigest()[:12]
    return {f"monitor_corr_{version}": rules}


class CorrelationEngine(Engine):
    """Decides which correlation facts cross their threshold (see :func:`compile_correlations`)."""

    def __init__(self, correlations: list[Any]) -> None:  # noqa: D107 - no RuleSet here
        self.definition = compile_correlations(correlations)
        self.name = next(iter(self.definition))
        self._register("the correlation rules")

    def crossing(self, facts: list[dict[str, Any]]) -> list[int]:
        """Indexes of the facts whose correlation fires now."""
        out: list[int] = []
        for i, fact in enumerate(facts):  # one sid per fact: each group is judged on its own
            if self.evaluate([{**fact, "unit": i}]):
                out.append(i)
        return out
