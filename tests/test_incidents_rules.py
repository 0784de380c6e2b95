"""``kind: correlation`` documents: validation with path:line messages, and the shipped rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import invoke
from monitor.correlation import parse_window_days
from monitor.engine import CorrelationEngine
from monitor.errors import RuleError
from monitor.rules import lint_rules, load_rules

GOOD = """kind: correlation
id: corroborated
title: Reported by three sources
rules: [arms_transfer_embargoed_state]
group_by: [supplier, recipient]
window: 7d
threshold: 3
effect: {level: critical, corroborated: true}
"""


def rules_with(tmp_path: Path, repo: Path, text: str) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    for sub in ("lists", "detections"):
        for f in (repo / "rules" / sub).glob("*.yaml"):
            (folder / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "corr.yaml").write_text(text, encoding="utf-8")
    return folder


def test_shipped_correlation_loads_and_lints_clean(repo: Path, runner):
    rs = load_rules([repo / "rules"])
    [c] = rs.correlations
    assert (c.id, c.threshold, c.window_days, c.level, c.corroborated) == (
        "arms_transfer_corroborated", 3, 7.0, "critical", True)
    assert c.rules == ("arms_transfer_embargoed_state",)
    r = invoke(runner, "--config", str(repo / "config.yaml"), "rules", "lint")
    assert r.exit_code == 0 and "0 error(s), 0 warning(s)" in r.output, r.output


@pytest.mark.parametrize("old,new,line,message", [
    ("window: 7d", "window: soon", 6, "window must be a duration"),
    ("threshold: 3", "threshold: 1", 7, "threshold must be a whole number"),
    ("[arms_transfer_embargoed_state]", "[no_such_rule]", 4, "unknown rule(s): no_such_rule"),
    ("[supplier, recipient]", "[supplier, country]", 5, "unknown group_by field 'country'"),
    ("{level: critical, corroborated: true}", "{level: urgent}", 8, "unknown level 'urgent'"),
    ("threshold: 3", "threshold: 3\nthreshhold: 4", 8, "unknown key 'threshhold' in correlation"),
])
def test_correlation_errors_point_at_the_line(tmp_path: Path, repo: Path, old, new, line, message):
    folder = rules_with(tmp_path, repo, GOOD.replace(old, new))
    _, issues = lint_rules([folder])
    errors = [str(i) for i in issues if i.severity == "error"]
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{folder / 'corr.yaml'}:{line}:"), errors
    assert message in errors[0]
    with pytest.raises(RuleError) as exc:
        load_rules([folder])
    assert f"corr.yaml:{line}:" in str(exc.value)


def test_window_durations():
    assert parse_window_days("7d") == 7 and parse_window_days("36h") == 1.5 and parse_window_days("2w") == 14
    assert parse_window_days(10) == 10
    assert parse_window_days("0d") is None and parse_window_days("x") is None and parse_window_days(True) is None


def test_correlation_engine_fires_only_on_unfired_groups_at_the_threshold(repo: Path):
    [c] = load_rules([repo / "rules"]).correlations
    eng = CorrelationEngine([c])
    facts = [{"corr": c.id, "sources": 2, "fired": 0}, {"corr": c.id, "sources": 3, "fired": 0},
             {"corr": c.id, "sources": 4, "fired": 1}, {"corr": c.id, "sources": 9, "fired": 0}]
    assert eng.crossing(facts) == [1, 3]
    assert CorrelationEngine([c]).crossing(facts) == [1, 3]  # a second engine (restart) on the same host


def test_incident_window_setting_is_validated_with_its_line(tmp_path: Path):
    from monitor.config import load_config
    from monitor.errors import ConfigError
    cfg = tmp_path / "config.yaml"
    cfg.write_text("rules: [rules]\nincident_window_days: 7\n", encoding="utf-8")
    assert load_config(cfg).incident_window_days == 7
    cfg.write_text("rules: [rules]\nincident_window_days: '7'\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_config(cfg)
    assert str(exc.value).startswith(f"{cfg}:2:") and "incident_window_days" in str(exc.value)


def test_best_window_counts_independent_sources_in_the_busiest_window():
    from monitor.corroborate import best_window

    def m(day: int, cluster: str) -> dict:
        return {"published_at": f"2025-06-{day:02d}T00:00:00Z", "cluster_id": cluster}

    members = [m(1, "a"), m(2, "a"), m(3, "b"), m(9, "c"), m(10, "d"), m(11, "d"), m(20, "e")]
    n, start, inside = best_window(members, "2025-06-20T00:00:00Z", 7)
    assert (n, start) == (3, "2025-06-02T00:00:00Z")  # a, b, c from the 2nd to the 9th: the first with 3
    assert [x["cluster_id"] for x in inside] == ["a", "b", "c"]
    members.insert(5, m(10, "f"))  # a fourth source in the week from the 3rd: b, c, d, f
    assert best_window(members, "2025-06-20T00:00:00Z", 7)[:2] == (4, "2025-06-03T00:00:00Z")
    # windows start no later than the alert's own time (and may reach past it)
    assert best_window(members, "2025-06-01T00:00:00Z", 7)[:2] == (2, "2025-06-01T00:00:00Z")
    assert best_window([], "2025-06-02T00:00:00Z", 7) == (0, "2025-06-02T00:00:00Z", [])
