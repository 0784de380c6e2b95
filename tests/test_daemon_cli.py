"""``monitor scan`` look-back, ``monitor status`` and ``monitor backup`` (in process, real SQLite files)."""

from __future__ import annotations

import json
import logging
import sqlite3

from conftest import invoke
from daemon_helpers import make_project, q, rule_text, write_articles
from monitor.logs import JsonFormatter, TextFormatter
from monitor.store import Store

OLD = "---\ndate: 2021-03-01\n---\nOld report\n\nCargo lot 500 was unloaded in Zenda.\n"


def test_rules_change_rescans_only_the_look_back_window_unless_all(tmp_path, runner):
    cfg = make_project(tmp_path)
    write_articles(tmp_path / "articles", 0, 15)
    (tmp_path / "articles" / "old.txt").write_text(OLD)
    base = ["--config", str(cfg)]
    r = invoke(runner, *base, "run", "--once")
    assert r.exit_code == 0, r.output
    assert "scanned 16 article(s)" in r.output
    db = tmp_path / "monitor.db"
    (tmp_path / "rules" / "zenda.yaml").write_text(rule_text("shipped, delivered, unloaded"))
    r = invoke(runner, *base, "scan")
    assert "scanned 16 article(s)" in r.output  # the 2021 article was ingested today: in the window
    assert "3 new alert(s)" in r.output  # articles 7 and 14 and the 2021 one: unloaded
    assert q(db, "select count(*) n from alerts where evidence like '%lot 500%'")[0]["n"] == 1
    with Store.open(db) as store, store.transaction() as conn:  # as if it had been ingested in 2021
        conn.execute("update articles set ingested_at = '2021-03-02T00:00:00Z' where title = 'Old report'")
        conn.execute("delete from alerts where evidence like '%lot 500%'")
    (tmp_path / "rules" / "zenda.yaml").write_text(rule_text("shipped, delivered, unloaded, moved"))
    r = invoke(runner, *base, "scan")
    assert "scanned 15 article(s)" in r.output  # the 2021 article keeps its earlier scan
    assert q(db, "select count(*) n from alerts where evidence like '%lot 500%'")[0]["n"] == 0
    r = invoke(runner, *base, "run", "--once")
    assert "scanned 0 article(s)" in r.output  # run --once uses the same window
    r = invoke(runner, *base, "scan", "--all")
    assert "scanned 1 article(s)" in r.output
    assert q(db, "select count(*) n from alerts where evidence like '%lot 500%'")[0]["n"] == 1
    (tmp_path / "config.yaml").write_text(cfg.read_text() + "rescan_days: 0\n")
    (tmp_path / "rules" / "zenda.yaml").write_text(rule_text("shipped"))
    write_articles(tmp_path / "articles", 15, 16)
    r = invoke(runner, *base, "run", "--once")
    assert "scanned 1 article(s)" in r.output  # only the never-scanned one


def test_status_exit_code_follows_the_last_cycle(tmp_path, runner):
    cfg = make_project(tmp_path)
    write_articles(tmp_path / "articles", 0, 6)
    base = ["--config", str(cfg)]
    assert invoke(runner, *base, "run", "--once").exit_code == 0
    r = invoke(runner, *base, "status")
    assert r.exit_code == 0, r.output
    assert "daemon: never started on this database" in r.output
    assert "recent cycles:" in r.output and " ok " in r.output
    with Store.open(tmp_path / "monitor.db") as store:
        run_id = store.start_run("source:wire", "x")
        store.finish_run(run_id, "failed")
        store.record_error("daemon", "source:wire", "", "OSError: disk full")
    r = invoke(runner, *base, "status")
    assert r.exit_code == 1
    assert "last cycle failed" in r.output and "disk full" in r.output


def test_backup_is_a_consistent_copy(tmp_path, runner):
    cfg = make_project(tmp_path)
    write_articles(tmp_path / "articles", 0, 30)
    base = ["--config", str(cfg)]
    assert invoke(runner, *base, "run", "--once").exit_code == 0
    dest = tmp_path / "backup.db"
    r = invoke(runner, *base, "backup", str(dest))
    assert r.exit_code == 0, r.output
    assert "30 articles, 10 alerts" in r.output
    conn = sqlite3.connect(dest)
    assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
    assert conn.execute("select count(*) from alerts").fetchone()[0] == 10
    conn.close()
    r = invoke(runner, *base, "backup", str(dest))
    assert r.exit_code == 1 and "already exists" in r.output


def test_log_formats():
    rec = logging.LogRecord("monitor.daemon", logging.INFO, __file__, 1, "cycle %s ok", ("wire",), None)
    rec.fields = {"scanned": 3}
    obj = json.loads(JsonFormatter().format(rec))
    assert obj["message"] == "cycle wire ok" and obj["scanned"] == 3 and obj["level"] == "info"
    assert TextFormatter().format(rec).endswith("INFO    cycle wire ok scanned=3")
