"""Typed rule objects: what a YAML rule or list file becomes after validation.

Every object remembers the :class:`~monitor.errors.Location` it was read from,
so later stages (compiler, tests, explain) can point back at the source.
"""

from __future__ import annotations

from functools import cached_property
from dataclasses import dataclass, field
from typing import Any, Union

from .errors import Location

__all__ = [
    "LEVELS",
    "STATUSES",
    "level_rank",
    "ListEntry",
    "TermList",
    "PatternSpec",
    "Ref",
    "All",
    "AnyOf",
    "Not",
    "AtLeast",
    "Near",
    "RoleRef",
    "MatchNode",
    "ASSERTIONS",
    "ROLE_FACTS",
    "TemplateElement",
    "RoleTemplate",
    "RoleSpec",
    "RegimeSpec",
    "Scope",
    "ExceptionSpec",
    "RuleTest",
    "Rule",
    "RuleSet",
    "Issue",
]

LEVELS = ("info", "low", "medium", "high", "critical")
# Assertion classes, strongest qualifier first: when several cues qualify a claim the first one wins.
ASSERTIONS = ("denied", "hypothetical", "planned", "historical", "alleged", "reported")
# Role facts a match clause can test (``roles: dyad``); each is a 0/1 fact field ``r_<name>``.
ROLE_FACTS = ("supplier", "recipient", "dyad", "any", "sanctioned", "in_force")
STATUSES = ("experimental", "test", "stable", "deprecated")


def level_rank(level: str) -> int:
    """0 for info ... 4 for critical."""
    return LEVELS.index(level)


@dataclass(frozen=True)
class ListEntry:
    id: str
    label: str
    aliases: tuple[str, ...] = ()
    acronyms: tuple[str, ...] = ()
    weak_aliases: tuple[str, ...] = ()
    context_aliases: tuple[str, ...] = ()
    attributes: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    location: Location | None = field(default=None, compare=False)

    def has(self, where: dict[str, Any]) -> bool:
        """True when every ``where`` condition holds for this entry's attributes."""
        for key, wanted in where.items():
            have = self.attributes.get(key)
            wanted_values = wanted if isinstance(wanted, list) else [wanted]
            have_values = have if isinstance(have, list) else [have]
            if not any(w in have_values for w in wanted_values):
                return False
        return True


@dataclass(frozen=True)
class TermList:
    id: str
    title: str
    description: str
    entries: tuple[ListEntry, ...]
    location: Location
    digest: str

    @cached_property
    def _by_id(self) -> dict[str, ListEntry]:
        return {e.id: e for e in self.entries}

    def entry(self, entry_id: str) -> ListEntry | None:
        return self._by_id.get(entry_id)


@dataclass(frozen=True)
class PatternSpec:
    """A named matcher: a list reference, literal terms, or an RE2 regex."""

    name: str
    kind: str  # "list" | "terms" | "regex"
    list_id: str = ""
    entries: tuple[str, ...] = ()  # only these entries of the list (all when empty)
    where: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    weak: bool = False
    terms: tuple[str, ...] = ()
    case_sensitive: bool = False
    regex: str = ""
    in_document: bool = False
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Ref:
    name: str
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class All:
    children: tuple["MatchNode", ...]


@dataclass(frozen=True)
class AnyOf:
    children: tuple["MatchNode", ...]


@dataclass(frozen=True)
class Not:
    child: "MatchNode"


@dataclass(frozen=True)
class AtLeast:
    n: int
    children: tuple["MatchNode", ...]


@dataclass(frozen=True)
class Near:
    """All ``patterns`` occur within ``within`` words of each other."""

    patterns: tuple[str, ...]
    within: int
    index: int = 0  # position among the rule's near clauses (fact field n<index>)


@dataclass(frozen=True)
class RoleRef:
    """A role fact computed before the engine: ``supplier``, ``recipient``, ``dyad``, ``sanctioned``, ..."""

    name: str


MatchNode = Union[Ref, All, AnyOf, Not, AtLeast, Near, RoleRef]


@dataclass(frozen=True)
class TemplateElement:
    """One element of a role template: a slot, a pattern (optionally one entry), or literal words."""

    kind: str  # supplier | recipient | item | pattern | words
    pattern: str = ""
    entries: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    optional: bool = False


@dataclass(frozen=True)
class RoleTemplate:
    text: str
    elements: tuple[TemplateElement, ...]
    max_gap: int
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class RoleSpec:
    """How a rule finds supplier, recipient and item (PETRARCH-style source/target templates)."""

    party: str  # pattern whose list hits fill the supplier/recipient slots
    item: str = ""  # pattern naming what moved
    templates: tuple[RoleTemplate, ...] = ()
    sanctioned: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    fallback: dict[str, str] = field(default_factory=dict, compare=False, hash=False)  # role -> pattern
    barrier: str = ""  # pattern whose hits no template gap may contain (speech verbs: "U.S. claim it is selling")
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class RegimeSpec:
    """Which sanctions measures an alert names, and whether they must be in force on the article date."""

    of: tuple[str, ...] = ()  # patterns whose entries' measures count (besides the role-bound parties)
    measures: tuple[str, ...] = ()  # e.g. arms, sectoral; empty: any
    authorities: tuple[str, ...] = ()  # e.g. UN, US; empty: any
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Scope:
    kind: str  # sentence | paragraph | document | window
    window: int = 0

    def __str__(self) -> str:
        return f"window of {self.window} words" if self.kind == "window" else self.kind


@dataclass(frozen=True)
class ExceptionSpec:
    """A named exception: cue terms near some patterns, with an effect."""

    name: str
    cues: PatternSpec
    of: tuple[str, ...] = ()
    within: int = 0  # 0: anywhere in the scope unit
    direction: str = "around"  # before | after | around
    effect: str = "suppress"  # suppress | lower | annotate
    level: str = ""
    assertion: str = ""
    note: str = ""
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class RuleTest:
    text: str
    match: bool
    level: str = ""
    captures: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, hash=False)
    because: str = ""
    title: str = ""
    published_at: str = ""
    roles: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    assertion: str = ""
    regimes: tuple[str, ...] | None = None  # expected authorities in force (exact set), None: not checked
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    description: str
    level: str
    status: str
    tags: tuple[str, ...]
    references: tuple[str, ...]
    author: str
    scope: Scope
    patterns: dict[str, PatternSpec] = field(compare=False, hash=False)
    match: MatchNode
    exceptions: tuple[ExceptionSpec, ...]
    message: str
    tests: tuple[RuleTest, ...]
    location: Location
    version: str
    roles: RoleSpec | None = None
    assertion: str = ""  # default assertion class of a claim rule ("" for rules that make no claim)
    regimes: RegimeSpec | None = None

    @property
    def enabled(self) -> bool:
        return self.status != "deprecated"


@dataclass(frozen=True)
class Issue:
    """A problem found while loading or linting rules."""

    location: Location
    message: str
    severity: str = "error"  # error | warning
    rule: str = ""

    def __str__(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        who = f"rule '{self.rule}': " if self.rule else ""
        return f"{self.location}: {prefix}{who}{self.message}"


@dataclass
class RuleSet:
    """Every loaded rule and list; ``version`` changes when any of them does."""

    rules: list[Rule]
    lists: dict[str, TermList]
    version: str
    issues: list[Issue] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    correlations: list[Any] = field(default_factory=list)  # monitor.correlation.Correlation

    def rule(self, rule_id: str) -> Rule | None:
        for r in self.rules:
            if r.id == rule_id:
                return r
        return None

    @property
    def enabled_rules(self) -> list[Rule]:
        return [r for r in self.rules if r.enabled]
