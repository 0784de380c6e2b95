"""The real daemon process: clean stop on SIGTERM/SIGINT, one instance per database, review while it runs."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from daemon_helpers import (
    log_of, make_project, monitor, q, rule_text, start_daemon, stop, wait_for, wait_started, write_articles,
)
from test_seeds import sqlite_utils_cli


def test_sigterm_mid_scan_exits_0_within_seconds_and_restart_finishes(tmp_path):
    cfg = make_project(tmp_path, every="1h")
    db = tmp_path / "monitor.db"
    write_articles(tmp_path / "articles", 0, 2400)
    proc = start_daemon(cfg, "--log-format", "json")
    wait_started(proc, db)
    wait_for(lambda: q(db, "select count(*) n from articles where scanned_ruleset is not null")[0]["n"] > 50,
             30, "the scan to be under way", proc)
    rc, seconds = stop(proc, signal.SIGTERM)
    assert rc == 0
    assert seconds < 3.0, seconds
    lines = [json.loads(line) for line in log_of(cfg).splitlines() if line.startswith("{")]
    assert any(line["message"].startswith("stopping (SIGTERM)") for line in lines)
    assert lines[-1]["message"] == "monitor stopped"
    cycles = [line for line in lines if line["message"].startswith("cycle ")]
    assert cycles and cycles[-1]["status"] == "stopped"
    assert q(db, "select status from daemon") == [{"status": "stopped"}]
    scanned = q(db, "select count(*) n from articles where scanned_ruleset is not null")[0]["n"]
    assert 0 < scanned  # it may or may not have finished: whatever is left is picked up below

    proc = start_daemon(cfg)
    wait_started(proc, db)
    wait_for(lambda: q(db, "select count(*) n from articles where scanned_ruleset is null")[0]["n"] == 0
             and q(db, "select count(*) n from articles")[0]["n"] == 2400, 60, "the rest of the scan", proc)
    rc, seconds = stop(proc, signal.SIGINT)
    assert rc == 0 and seconds < 3.0
    # i % 3 == 0 for i < 2400: 800 shipments, each alerted once ('unloaded' is not in this rule)
    assert q(db, "select count(*) n from alerts")[0]["n"] == 800


def test_second_instance_refuses_and_names_the_running_one(tmp_path):
    cfg = make_project(tmp_path, every="1h")
    db = tmp_path / "monitor.db"
    proc = start_daemon(cfg)
    try:
        wait_started(proc, db)
        second = monitor(cfg, "run")
        assert second.returncode == 1
        assert f"pid {proc.pid}" in second.stderr
        assert "another monitor is already running" in second.stderr
        assert str(cfg.resolve()) in second.stderr
        once = monitor(cfg, "run", "--once")
        assert once.returncode == 1 and f"pid {proc.pid}" in once.stderr
        st = monitor(cfg, "status")
        assert st.returncode == 0, st.stderr
        assert st.stdout.startswith("daemon: running;") and f"pid {proc.pid}" in st.stdout
    finally:
        rc, _ = stop(proc)
    assert rc == 0
    proc.kill()
    st = monitor(cfg, "status")
    assert st.stdout.startswith("daemon: stopped;")
    # kill -9 leaves no stale lock
    proc = start_daemon(cfg)
    wait_started(proc, db)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    st = monitor(cfg, "status")
    assert "not running (exited without a clean stop)" in st.stdout
    again = monitor(cfg, "run", "--once")
    assert again.returncode == 0, again.stderr


def _cli(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sqlite_utils_cli(), *args], capture_output=True, text=True, timeout=60)


def test_sqlite_utils_review_while_the_daemon_ingests_and_rescans(tmp_path):
    cfg = make_project(tmp_path, every="0.5s")
    db = tmp_path / "monitor.db"
    write_articles(tmp_path / "articles", 0, 1500)
    proc = start_daemon(cfg)
    ops = locked = 0
    failures: list[str] = []
    updated: dict[str, str] = {}
    try:
        wait_started(proc, db)
        wait_for(lambda: q(db, "select count(*) n from alerts")[0]["n"] > 20, 30, "first alerts", proc)
        def rescanned() -> bool:
            return q(db, "select count(*) n from articles where scanned_ruleset != "
                         "(select ruleset_version from daemon) or scanned_ruleset is null")[0]["n"] == 0 and \
                q(db, "select count(*) n from articles")[0]["n"] == 3000

        deadline = time.monotonic() + 150
        i = 0
        while time.monotonic() < deadline and (i < 10 or not rescanned()):
            if i == 4:  # more articles arrive, and the rule changes: the daemon rescans and updates alerts
                write_articles(tmp_path / "articles", 1500, 3000)
                (tmp_path / "rules" / "zenda.yaml").write_text(rule_text("shipped, delivered, unloaded"))
            batch = [
                ["rows", str(db), "alerts_review", "--limit", "20"],
                ["query", str(db), "select status, count(*) n from alerts group by status"],
                ["query", str(db), "select id from alerts where status = 'new' order by random() limit 1"],
            ]
            for args in batch:
                r = _cli(args)
                ops += 1
                if "database is locked" in r.stderr:
                    locked += 1
                if r.returncode != 0:
                    failures.append(r.stderr)
            pick = json.loads(r.stdout or "[]")
            if pick:
                aid, note = pick[0]["id"], f"checked {i}"
                r = _cli(["query", str(db), "update alerts set status = 'confirmed', note = :note where id = :id",
                          "-p", "note", note, "-p", "id", aid])
                ops += 1
                if "database is locked" in r.stderr:
                    locked += 1
                if r.returncode != 0:
                    failures.append(r.stderr)
                else:
                    updated[aid] = note
            i += 1
        assert rescanned(), "the daemon did not finish ingesting and rescanning in time"
    finally:
        rc, _ = stop(proc)
    print(f"concurrency test: {ops} sqlite-utils CLI operations ({len(updated)} updates), "
          f"{locked} 'database is locked'")
    assert rc == 0, log_of(cfg)
    assert locked == 0 and not failures, failures[:3]
    assert len(updated) >= 8 and ops >= 40
    # The rescan rewrote alert rows, yet every analyst update survived.
    assert q(db, "select count(*) n from alerts where updated_at > created_at")[0]["n"] > 0
    for aid, note in updated.items():
        assert q(db, "select status, note from alerts where id = ?", (aid,)) == [
            {"status": "confirmed", "note": note}]
    assert "ruleset" in log_of(cfg) and "is active" in log_of(cfg)
    assert Path(str(db) + ".lock").exists()
