"""``kind: correlation`` rules: corroboration of alerts across articles.

A correlation watches some detection rules, groups their alerts (by supplier,
recipient, item or rule), and fires once when a group is reported by at least
``threshold`` *independent sources* (distinct near-duplicate copy clusters, see
:mod:`monitor.neardup`) within ``window`` of published time. Its effect raises
the level of the incidents involved and/or marks them corroborated::

    kind: correlation
    id: arms_transfer_corroborated
    title: Arms transfer reported by at least 3 independent sources within 7 days
    rules: [arms_transfer_embargoed_state]
    group_by: [supplier, recipient]
    window: 7d
    threshold: 3
    effect: {level: critical, corroborated: true}

This module parses and validates them (errors as ``path:line:col: message``);
the durable-rules side is in :mod:`monitor.engine`, evaluation in :mod:`monitor.incidents`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import Location
from .parse import Collector, document_id, str_list
from .ruletypes import LEVELS, STATUSES
from .yamlfile import Marks

__all__ = ["Correlation", "CORRELATION_KEYS", "GROUP_FIELDS", "parse_correlation", "check_correlations",
           "parse_window_days"]

CORRELATION_KEYS = {"kind", "id", "title", "description", "status", "rules", "group_by", "window", "threshold",
                    "effect", "author", "references"}
CORRELATION_REQUIRED = ("id", "title", "rules", "group_by", "window", "threshold", "effect")
GROUP_FIELDS = ("rule", "supplier", "recipient", "item")
EFFECT_KEYS = {"level", "corroborated"}


@dataclass(frozen=True)
class Correlation:
    id: str
    title: str
    rules: tuple[str, ...]
    group_by: tuple[str, ...]
    window_days: float
    threshold: int
    level: str  # "" when the effect does not raise the level
    corroborated: bool
    status: str
    location: Location

    @property
    def enabled(self) -> bool:
        return self.status != "deprecated"


def parse_window_days(value: Any) -> float | None:
    """Days from ``7d``, ``36h``, ``2w`` or a plain number of days; None if not positive."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value > 0 else None
    if not isinstance(value, str) or len(value) < 2:
        return None
    num, unit = value[:-1].strip(), value[-1]
    factor = {"h": 1 / 24, "d": 1.0, "w": 7.0}.get(unit)
    try:
        days = float(num) * factor if factor is not None else float(value)
    except ValueError:
        return None
    return days if days > 0 else None


def parse_correlation(data: dict[str, Any], marks: Marks, out: Collector) -> Correlation | None:
    """A validated :class:`Correlation`, or None after reporting every problem to ``out``."""
    cid = document_id(data, marks, out, "correlation", CORRELATION_KEYS, CORRELATION_REQUIRED)
    if cid is None:
        return None
    name = cid
    ok = True
    rules = str_list(data["rules"], marks.value("rules"), "rules", out, name)
    if not rules:
        out.error(marks.value("rules"), "rules must name at least one detection rule", name)
        ok = False
    group_by = str_list(data["group_by"], marks.value("group_by"), "group_by", out, name)
    for g in group_by:
        if g not in GROUP_FIELDS:
            out.error(marks.value("group_by"), f"unknown group_by field '{g}' (use {', '.join(GROUP_FIELDS)})", name)
            ok = False
    if not group_by:
        out.error(marks.value("group_by"), "group_by needs at least one field", name)
        ok = False
    window = parse_window_days(data["window"])
    if window is None:
        out.error(marks.value("window"), f"window must be a duration such as 7d, 36h or 2w, got {data['window']!r}", name)
        ok = False
    threshold = data["threshold"]
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 2:
        out.error(marks.value("threshold"), "threshold must be a whole number of independent sources, at least 2", name)
        ok = False
    status = data.get("status", "experimental")
    if status not in STATUSES:
        out.error(marks.value("status"), f"unknown status '{status}' (use {', '.join(STATUSES)})", name)
    effect = data["effect"]
    level, corroborated = "", False
    if not isinstance(effect, dict) or not effect or set(effect) - EFFECT_KEYS:
        out.error(marks.value("effect"), "effect must be a mapping with level: <level> and/or corroborated: true", name)
        ok = False
    else:
        level = effect.get("level", "")
        if level and level not in LEVELS:
            out.error(marks.value("effect", "level"), f"unknown level '{level}' (use {', '.join(LEVELS)})", name)
            ok = False
        corroborated = effect.get("corroborated", False)
        if not isinstance(corroborated, bool):
            out.error(marks.value("effect", "corroborated"), "corroborated must be true or false", name)
            ok = False
        if not level and not corroborated:
            out.error(marks.value("effect"), "effect does nothing: give a level, corroborated: true, or both", name)
            ok = False
    if not ok:
        return None
    return Correlation(id=cid, title=str(data["title"]), rules=rules, group_by=group_by, window_days=float(window),
                       threshold=int(threshold), level=str(level), corroborated=bool(corroborated),
                       status=str(status), location=marks.value())


def check_correlations(items: list[tuple[Correlation, Marks]], rule_ids: set[str], out: Collector) -> list[Correlation]:
    """Cross-checks: unique ids, watched rules exist. Returns the correlations that passed."""
    seen: dict[str, Location] = {}
    good: list[Correlation] = []
    for corr, marks in items:
        if corr.id in seen:
            out.error(marks.value("id"), f"duplicate correlation id '{corr.id}' (first defined at {seen[corr.id]})")
            continue
        seen[corr.id] = corr.location
        unknown = [r for r in corr.rules if r not in rule_ids]
        if unknown:
            out.error(marks.value("rules"), f"correlation watches unknown rule(s): {', '.join(unknown)}", corr.id)
            continue
        good.append(corr)
    return good
