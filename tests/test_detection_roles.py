"""Roles, assertion classes and regimes in force, through the production pipeline and the default rules."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from conftest import invoke
from monitor.alerts import make_alerts
from monitor.engine import compile_condition
from monitor.ingest import make_record, read_path
from monitor.pipeline import Analyzer
from monitor.rules import lint_rules, load_rules
from monitor.ruletypes import All, Ref, RoleRef

REPO = Path(__file__).resolve().parent.parent
ARMS = "arms_transfer_embargoed_state"


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer(load_rules([REPO / "rules"]))


def alerts(analyzer: Analyzer, text: str, date: str = "2024-03-01", title: str = "") -> dict[str, dict]:
    analysis = analyzer.analyse(text, title, date)
    return {a["rule_id"]: a for a in make_alerts(analysis, "art", analyzer.ruleset.version)}


@pytest.mark.parametrize("text, supplier, recipient", [
    ("North Korea shipped artillery shells to Russia by rail.", "PRK", "RUS"),
    ("Russia is buying rockets from North Korea for the war.", "PRK", "RUS"),
    ("Artillery shells were delivered to Russia by North Korea in the autumn.", "PRK", "RUS"),
    ("North Korean artillery shells sent to Russia were fired at Ukrainian positions.", "PRK", "RUS"),
    ("Russia received Iranian-made drones in August.", "IRN", "RUS"),
    ("The Kremlin took delivery of Shahed drones from Tehran.", "IRN", "RUS"),
    ("Russia's defence ministry bought ballistic missiles from Pyongyang.", "PRK", "RUS"),
    ("Iran supplied the Houthis with cruise missiles.", "IRN", "HOUTHIS"),
    ("DPRK-Russia arms transfers continue, diplomats warn.", "PRK", "RUS"),
])
def test_supplier_and_recipient_are_bound_by_templates(analyzer: Analyzer, text: str, supplier: str,
                                                       recipient: str) -> None:
    a = alerts(analyzer, text)[ARMS]
    assert (a["supplier"], a["recipient"]) == (supplier, recipient), a["notes"]
    assert a["supplier_text"] and a["recipient_text"]
    assert a["supplier_text"].lower() in text.lower() and a["recipient_text"].lower() in text.lower()


def test_weak_aliases_are_recorded_with_their_text(analyzer: Analyzer) -> None:
    a = alerts(analyzer, "Moscow bought artillery shells from Pyongyang last year.")[ARMS]
    assert (a["supplier"], a["supplier_text"], a["recipient"], a["recipient_text"]) == ("PRK", "Pyongyang", "RUS", "Moscow")
    assert a["item"] == "artillery_ammunition"


def test_one_sided_templates_leave_the_other_side_empty(analyzer: Analyzer) -> None:
    a = alerts(analyzer, "Shahed drones acquired from Tehran hit Kyiv overnight.")[ARMS]
    assert (a["supplier"], a["recipient"]) == ("IRN", "")


def test_a_clause_break_stops_a_template(analyzer: Analyzer) -> None:
    a = alerts(analyzer, "Officials cited the resolutions on the DPRK, and the procurement of drones from Iran.")[ARMS]
    assert a["recipient"] != "PRK" and a["supplier"] == "IRN"


def test_the_other_side_can_come_from_another_sentence_at_the_same_level(analyzer: Analyzer) -> None:
    text = ("Speakers condemned the unlawful arms transfers from Pyongyang. "
            "Rockets were shipped to Russia in breach of the arms embargo on North Korea.")
    a = alerts(analyzer, text, "2024-06-28")[ARMS]
    assert (a["supplier"], a["recipient"]) == ("PRK", "RUS")
    assert "recipient RUS named in another sentence" in a["notes"]


@pytest.mark.parametrize("text, assertion, level", [
    ("North Korea shipped shells to Russia in October.", "reported", "high"),
    ("North Korea shipped shells to Russia in October, U.S. officials said.", "alleged", "high"),
    ("Pyongyang denied selling rockets to Moscow.", "denied", "low"),
    ("A sale of North Korean missiles to Russia would violate UN resolutions.", "hypothetical", "low"),
    ("Russia plans to buy more shells from North Korea.", "planned", "low"),
    ("During the Cold War North Korea sold missiles to Iran.", "historical", "low"),
])
def test_assertion_classes_and_levels(analyzer: Analyzer, text: str, assertion: str, level: str) -> None:
    a = alerts(analyzer, text)[ARMS]
    assert (a["assertion"], a["level"]) == (assertion, level)


def test_a_denial_drops_to_low_unless_the_article_also_reports_the_transfer(analyzer: Analyzer) -> None:
    denial = "Pyongyang denied selling rockets to Moscow."
    assert alerts(analyzer, denial)[ARMS]["level"] == "low"
    both = "North Korea shipped rockets to Russia in October. " + denial
    a = alerts(analyzer, both)[ARMS]
    assert (a["level"], a["assertion"]) == ("high", "reported")


def test_rules_without_a_claim_have_no_assertion(analyzer: Analyzer) -> None:
    a = alerts(analyzer, "Exports breach Security Council resolution 2397 (2017), diplomats said.")
    assert a["unsc_resolution_reference"]["assertion"] == ""
    assert a["unsc_resolution_reference"]["supplier"] == ""


# ------------------------------------------------------------------ the seed story

def _seed(analyzer: Analyzer, path: Path) -> dict[str, dict]:
    art = next(x for x in read_path(path) if hasattr(x, "text"))
    rec = make_record(art, "seeds")
    analysis = analyzer.analyse(rec["text"], rec["title"], "2022-09-06")
    return {a["rule_id"]: a for a in make_alerts(analysis, rec["id"], analyzer.ruleset.version)}


def test_seed_story_purchase_is_a_high_alleged_or_reported_transfer_from_north_korea(analyzer: Analyzer,
                                                                                    seeds: Path) -> None:
    files = sorted(seeds.glob("*.txt"))
    assert len(files) == 5
    for f in files:
        a = _seed(analyzer, f)[ARMS]
        assert (a["supplier"], a["recipient"], a["level"]) == ("PRK", "RUS", "high"), f.name
        assert a["assertion"] in ("reported", "alleged"), f.name
        assert a["item"] in ("rockets_mlrs", "artillery_ammunition"), f.name
        assert "UN" in a["regimes"] and "1718" in a["resolutions"], f.name


def test_seed_story_would_be_a_violation_is_hypothetical(analyzer: Analyzer, seeds: Path) -> None:
    hypothetical = [a for f in sorted(seeds.glob("*.txt")) for a in _seed(analyzer, f).values()
                    if a["rule_id"] == "sanctions_breach_asserted" and a["assertion"] == "hypothetical"]
    assert hypothetical, "the seed articles say the exports would violate UN resolutions"
    assert all(a["level"] == "low" for a in hypothetical)


def test_no_indication_of_completion_qualifies_but_does_not_erase_the_purchase(analyzer: Analyzer) -> None:
    text = ("The Russian defence ministry is in the process of purchasing artillery shells from North Korea, "
            "according to an intelligence finding. An official said there was no indication the purchase had "
            "been finalised.")
    a = alerts(analyzer, text, "2022-09-06")[ARMS]
    assert (a["supplier"], a["recipient"], a["level"], a["assertion"]) == ("PRK", "RUS", "high", "alleged")


def test_sanctions_on_russia_are_not_a_violation_by_russia(analyzer: Analyzer) -> None:
    text = ("Officials said Moscow's turn to Iran and North Korea for weapons showed that sanctions and export "
            "controls were hurting Russia's military.")
    rows = alerts(analyzer, text, "2022-09-06")
    assert "sanctions_breach_asserted" not in rows
    assert all(a["supplier"] != "RUS" for a in rows.values())


# ------------------------------------------------------------------ regimes in force by date

@pytest.mark.parametrize("date, regimes, in_resolutions", [
    ("2019-06-01", ["UN", "US", "EU", "UK"], "2231"),   # 2231 Annex B arms restrictions
    ("2022-09-06", ["UN", "US", "EU", "UK"], "2231"),   # missile/MTCR restrictions until 2023-10-18
    ("2024-06-01", ["US", "EU", "UK"], None),           # UN measures lapsed
    ("2026-01-15", ["UN", "US", "EU", "UK"], "1747"),   # snapback (contested)
])
def test_iran_regimes_follow_the_article_date(analyzer: Analyzer, date: str, regimes: list[str],
                                              in_resolutions: str | None) -> None:
    a = alerts(analyzer, "Iran shipped drones to Russia last month.", date)[ARMS]
    assert sorted(a["regimes"]) == sorted(regimes)
    if in_resolutions:
        assert in_resolutions in a["resolutions"]
    else:
        assert a["resolutions"] == []
    assert any("contested" in n for n in a["notes"]) == (date >= "2025-09-28")


def test_somalia_government_embargo_lifted_in_2023(analyzer: Analyzer) -> None:
    text = "Turkey delivered armoured vehicles and rifles to the Somali army."
    assert alerts(analyzer, text, "2022-05-01")[ARMS]["resolutions"] == ["733", "751"]
    assert ARMS not in alerts(analyzer, text, "2024-05-01")
    shabaab = alerts(analyzer, "Smugglers shipped rifles to al-Shabaab by boat.", "2024-05-01")[ARMS]
    assert shabaab["recipient"] == "ALSHABAAB" and "2713" in shabaab["resolutions"]


def test_car_government_versus_armed_groups_after_2023(analyzer: Analyzer) -> None:
    assert ARMS not in alerts(analyzer, "Russia delivered rifles to the Central African Republic army.", "2024-02-01")
    a = alerts(analyzer, "Traffickers supplied rifles to anti-balaka fighters.", "2024-02-01")[ARMS]
    assert a["recipient"] == "CAF_ARMED" and a["regimes"] == ["UN"]


# ------------------------------------------------------------------ rule language

def test_roles_compile_to_durable_conditions_over_role_facts() -> None:
    cond = compile_condition(All((Ref("arms"), RoleRef("dyad"))))
    assert cond == {"$and": [{"$gte": {"p_arms": 1}}, {"r_dyad": 1}]}


RULE = """\
kind: list
id: places
entries:
  - {id: PRK, aliases: [North Korea], attributes: {sanctioned: true, measures: [{authority: UN, measure: arms, from: "2006-10-14"}]}}
  - {id: RUS, aliases: [Russia]}
  - {id: BAD, aliases: [Nowhere], attributes: {measures: [{authority: UN, from: 2006}]}}
---
kind: list
id: goods
entries:
  - {id: shells, aliases: [shells]}
  - {id: sold, aliases: [sold, bought]}
---
kind: rule
id: dyad_only
title: Both sides named
level: high
assertion: reported
scope: sentence
patterns:
  place: {list: places}
  item: {list: goods, entries: [shells]}
  verb: {list: goods, entries: [sold]}
match:
  all: [item, verb, {roles: dyad}]
roles:
  party: place
  item: item
  templates:
    - "{supplier} {verb} {item?} to {recipient}"
    - "{supplier} {vreb} {recipient}"
    - "{supplier} {item:nope"
regimes: {of: [place]}
tests:
  - {text: "North Korea sold shells to Russia.", match: true, roles: {supplier: PRK, recipient: RUS}}
  - {text: "North Korea sold shells.", match: false}
"""


def test_role_templates_and_measures_are_linted_with_locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("r.yaml").write_text(RULE, encoding="utf-8")
    _, issues = lint_rules(["r.yaml"])
    msgs = {(str(i.location).rsplit(":", 1)[0], i.message.split(":")[0]) for i in issues if i.severity == "error"}
    assert ("r.yaml:6", "list 'places'") in msgs                      # undated measure (from: 2006)
    assert ("r.yaml:31", "template '{supplier} {vreb} {recipient}'") in msgs
    assert ("r.yaml:32", "template '{supplier} {item") in msgs
    text = " ".join(str(i) for i in issues)
    assert "unknown pattern 'vreb'" in text and "measure from must be a quoted YYYY-MM-DD date" in text


def test_a_rule_can_require_a_dyad(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    good = RULE.replace('    - "{supplier} {vreb} {recipient}"\n    - "{supplier} {item:nope"\n', "")
    good = good.replace("  - {id: BAD, aliases: [Nowhere], attributes: {measures: [{authority: UN, from: 2006}]}}\n", "")
    Path("r.yaml").write_text(good, encoding="utf-8")
    ruleset, issues = lint_rules(["r.yaml"])
    assert [str(i) for i in issues if i.severity == "error"] == []
    an = Analyzer(ruleset)
    assert an.analyse("North Korea sold shells to Russia.").best("dyad_only") is not None
    assert an.analyse("North Korea sold shells.").best("dyad_only") is None


def test_scan_stores_roles_assertion_and_regimes_in_the_alerts_table(tmp_path: Path, repo: Path, runner) -> None:
    art = tmp_path / "a.txt"
    art.write_text("Shells by rail\n\nNorth Korea shipped artillery shells to Russia by rail "
                   "in October, officials said.\n", encoding="utf-8")
    db = tmp_path / "m.db"
    base = ["--config", str(repo / "config.yaml"), "--db", str(db)]
    assert invoke(runner, *base, "ingest", str(art)).exit_code == 0
    r = invoke(runner, *base, "scan")
    assert r.exit_code == 0, r.output
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    row = dict(conn.execute("select * from alerts where rule_id = ?", (ARMS,)).fetchone())
    conn.close()
    assert (row["supplier"], row["recipient"], row["supplier_text"], row["recipient_text"]) == \
        ("PRK", "RUS", "North Korea", "Russia")
    assert row["item"] == "artillery_ammunition" and row["assertion"] == "alleged"
    assert "UN" in json.loads(row["regimes"]) and "1718" in json.loads(row["resolutions"])


def test_explain_shows_roles_and_regimes(repo: Path, runner) -> None:
    r = invoke(runner, "--config", str(repo / "config.yaml"), "rules", "explain", ARMS,
               "--text", "Russia is buying rockets from North Korea.")
    assert r.exit_code == 0, r.output
    assert "roles: supplier PRK ('North Korea'), recipient RUS ('Russia'), item rockets_mlrs" in r.output
    assert "template '{recipient} {transfer:acquire|deal} {item?} from {supplier}' bound" in r.output
    assert "regimes in force: UN" in r.output
