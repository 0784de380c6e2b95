"""Rules edited while the daemon runs: validated, swapped without a restart, rescanned within the look-back."""

from __future__ import annotations

import sqlite3
import time

from daemon_helpers import (
    log_of, make_project, q, rule_text, start_daemon, stop, wait_for, wait_started, write_articles,
)

EXTRA_RULE = """\
kind: rule
id: strelsau_prices
title: Prices in Strelsau
level: info
scope: sentence
patterns:
  prices: {terms: [prices]}
match: prices
tests:
  - {text: "Prices rose.", match: true}
"""
OLD_ARTICLE = "---\ndate: 2020-01-15\n---\nOld report\n\nCargo lot 9999 was unloaded in Zenda at night.\n"


def test_hot_reload_keeps_last_good_ruleset_and_rescans_the_window(tmp_path):
    cfg = make_project(tmp_path, every="1h")
    db = tmp_path / "monitor.db"
    rule_file = tmp_path / "rules" / "zenda.yaml"
    write_articles(tmp_path / "articles", 0, 30)
    (tmp_path / "articles" / "old.txt").write_text(OLD_ARTICLE)
    proc = start_daemon(cfg)
    try:
        wait_started(proc, db)
        wait_for(lambda: q(db, "select count(*) n from articles where scanned_ruleset is not null")[0]["n"] == 31,
                 30, "first scan", proc)
        v1 = q(db, "select ruleset_version v from daemon")[0]["v"]
        assert q(db, "select count(*) n from alerts")[0]["n"] == 10  # i % 3 == 0 for i < 30
        triaged = q(db, "select id from alerts order by id limit 1")[0]["id"]
        conn_sql = "update alerts set status = 'dismissed', note = 'duplicate story' where id = ?"
        with sqlite3.connect(db, timeout=10) as conn:
            conn.execute(conn_sql, (triaged,))
            # The old article was published and ingested long ago: outside the look-back window.
            conn.execute("update articles set ingested_at = '2020-01-16T00:00:00Z' where title = 'Old report'")

        # 1. A YAML syntax error: logged and recorded with path:line, the old ruleset keeps running.
        rule_file.write_text(rule_text() + "tests: [\n")
        wait_for(lambda: q(db, "select count(*) n from errors where stage = 'rules'")[0]["n"] >= 1, 15,
                 "the syntax error to be recorded", proc)
        err = q(db, "select location, reason from errors where stage = 'rules' order by id desc limit 1")[0]
        assert err["location"].startswith(f"{rule_file}:") and err["location"].split(":")[1].isdigit()
        assert "YAML" in err["reason"] or "yaml" in err["reason"]

        # 2. Valid YAML whose inline test fails: not applied either.
        rule_file.write_text(rule_text("shipped, delivered, unloaded")
                             + '  - {text: "Crates were unloaded in Zenda.", match: false}\n')
        wait_for(lambda: q(db, "select count(*) n from errors where stage = 'rules' and reason like "
                               "'%test 3 failed%'")[0]["n"] == 1, 15, "the failing test to be recorded", proc)
        time.sleep(0.3)
        assert q(db, "select ruleset_version v from daemon")[0]["v"] == v1
        assert "keeps running" in log_of(cfg)

        # 3. A good change: applied, and the look-back window is rescanned with it.
        t0 = time.monotonic()
        rule_file.write_text(rule_text("shipped, delivered, unloaded"))
        wait_for(lambda: q(db, "select ruleset_version v from daemon")[0]["v"] != v1, 15, "the reload", proc)
        latency = time.monotonic() - t0
        v2 = q(db, "select ruleset_version v from daemon")[0]["v"]
        wait_for(lambda: q(db, "select count(*) n from articles where scanned_ruleset = ?", (v2,))[0]["n"] == 30,
                 30, "the rescan", proc)
        # 4. A new file is picked up too (an added list-free rule).
        (tmp_path / "rules" / "extra.yaml").write_text(EXTRA_RULE)
        wait_for(lambda: q(db, "select count(*) n from alerts where rule_id = 'strelsau_prices'")[0]["n"] == 17,
                 15, "the added rule file", proc)
        # 5. ... and a deleted one: its rule stops running (its alerts stay for review).
        (tmp_path / "rules" / "extra.yaml").unlink()
        wait_for(lambda: q(db, "select ruleset_version v from daemon")[0]["v"] == v2, 15, "the removal", proc)
    finally:
        rc, _ = stop(proc)
    assert rc == 0
    print(f"hot reload: new ruleset active {latency * 1000:.0f} ms after the file was written "
          f"(rules_poll 0.5 s)")
    assert latency < 5
    # 7, 14 and 28 (i % 7 == 0 and not i % 3 == 0) are newly alerted; nothing duplicated.
    unloaded = q(db, "select article_id from alerts where evidence like '%unloaded%'")
    assert len(unloaded) == 3
    assert q(db, "select count(*) n from alerts where rule_id = 'zenda_shipment'")[0]["n"] == 13
    # Triage survives the rescan; the old article stays with its earlier scan and gets no alert.
    assert q(db, "select status, note from alerts where id = ?", (triaged,)) == [
        {"status": "dismissed", "note": "duplicate story"}]
    old = q(db, "select id, scanned_ruleset from articles where published_at < '2021'")
    assert len(old) == 1 and old[0]["scanned_ruleset"] == v1
    assert q(db, "select count(*) n from alerts where article_id = ?", (old[0]["id"],))[0]["n"] == 0
