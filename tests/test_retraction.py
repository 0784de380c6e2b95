"""A rule edit that stops an alert: the alert is retracted (kept, with its triage), not left as current."""

from __future__ import annotations

from pathlib import Path

from daemon_helpers import make_project, q, rule_text, write_articles
from monitor.config import load_config
from monitor.pipeline import Analyzer
from monitor.rules import load_rules
from monitor.scan import run_once
from monitor.store import Store


def cycle(cfg: Path) -> None:
    config = load_config(cfg)
    with Store.open(config.database) as store:
        run_once(config, store, Analyzer(load_rules(list(config.rules))), since=None)


def test_alerts_no_longer_raised_are_retracted_and_come_back(tmp_path: Path) -> None:
    cfg = make_project(tmp_path)
    db = tmp_path / "monitor.db"
    write_articles(tmp_path / "articles", 0, 9)  # shipments in articles 0, 3 and 6
    cycle(cfg)
    assert q(db, "select count(*) n from alerts_review")[0]["n"] == 3
    assert q(db, "select count(*) n from incidents")[0]["n"] == 1
    first = q(db, "select id from alerts order by id limit 1")[0]["id"]
    with Store.open(db) as store, store.transaction() as conn:  # an analyst's triage
        conn.execute("update alerts set status = 'confirmed', note = 'checked' where id = ?", [first])

    (tmp_path / "rules" / "zenda.yaml").write_text(rule_text("delivered"), encoding="utf-8")
    cycle(cfg)  # "shipped" no longer matches: every alert is retracted
    assert q(db, "select count(*) n from alerts_review")[0]["n"] == 0
    gone = q(db, "select alert, status, note, retracted_at from alerts_retracted order by alert")
    assert len(gone) == 3 and all(g["retracted_at"] for g in gone)
    assert [g for g in gone if g["alert"] == first][0]["status"] == "confirmed"
    assert q(db, "select count(*) n from incidents")[0]["n"] == 0
    assert q(db, "select count(*) n from alerts where incident_id is not null")[0]["n"] == 0

    (tmp_path / "rules" / "zenda.yaml").write_text(rule_text(), encoding="utf-8")
    cycle(cfg)  # raised again: current again, triage kept, one incident again
    back = q(db, "select alert, status, note from alerts_review order by alert")
    assert len(back) == 3
    assert [b for b in back if b["alert"] == first][0]["note"] == "checked"
    assert q(db, "select count(*) n from alerts_retracted")[0]["n"] == 0
    assert q(db, "select articles from incidents") == [{"articles": 3}]


def test_a_failed_scan_retracts_nothing(tmp_path: Path) -> None:
    cfg = make_project(tmp_path)
    db = tmp_path / "monitor.db"
    write_articles(tmp_path / "articles", 0, 3)
    cycle(cfg)
    (aid,) = [r["article_id"] for r in q(db, "select article_id from alerts")]
    with Store.open(db) as store:
        store.save_scan(aid, "v-broken", [], error="RuntimeError: boom")
    assert q(db, "select count(*) n from alerts_review")[0]["n"] == 1
