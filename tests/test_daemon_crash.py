"""kill -9 a real daemon many times under load: nothing lost, nothing duplicated, nothing skipped."""

from __future__ import annotations

import random
import shutil
import signal
import time

from daemon_helpers import (
    article_text, log_of, make_project, monitor, q, rule_text, start_daemon, stop, wait_for, wait_started,
    write_articles,
)

ROUNDS = 10
PER_ROUND = 300


def test_kill_9_at_random_moments_loses_and_duplicates_nothing(tmp_path):
    rnd = random.Random(20261122)
    cfg = make_project(tmp_path / "live", every="0.5s")
    db = cfg.parent / "monitor.db"
    arts = cfg.parent / "articles"
    kills = 0
    for rnd_no in range(ROUNDS):
        write_articles(arts, rnd_no * PER_ROUND, (rnd_no + 1) * PER_ROUND)
        if rnd_no == ROUNDS // 2:  # widen the rule: a new ruleset version rescans everything (recent articles)
            (cfg.parent / "rules" / "zenda.yaml").write_text(rule_text("shipped, delivered, unloaded"))
        proc = start_daemon(cfg)
        if rnd_no % 4 == 3:
            time.sleep(rnd.uniform(0.1, 0.8))  # sometimes during startup
        else:
            wait_started(proc, db)
            time.sleep(rnd.uniform(0.0, 1.2))  # a cycle of 300 new articles takes ~0.8 s: mid-ingest or mid-scan
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        kills += 1
    total = ROUNDS * PER_ROUND

    # A last, undisturbed run catches up; then a clean stop.
    proc = start_daemon(cfg)
    wait_started(proc, db)
    wait_for(lambda: q(db, "select count(*) n from articles where scanned_ruleset = "
                           "(select ruleset_version from daemon) and scan_error is null")[0]["n"] == total,
             90, "every article scanned by the final ruleset", proc)
    rc, _ = stop(proc)
    assert rc == 0, log_of(cfg)

    # The same articles and rules, one clean one-shot run on a fresh database.
    clean = tmp_path / "clean"
    shutil.copytree(cfg.parent / "rules", clean / "rules")
    shutil.copytree(arts, clean / "articles")
    (clean / "config.yaml").write_text(cfg.read_text())
    r = monitor(clean / "config.yaml", "run", "--once")
    assert r.returncode == 0, r.stderr
    clean_db = clean / "monitor.db"

    assert q(db, "select count(*) n from articles")[0]["n"] == total
    assert q(db, "select count(distinct origin) n from articles")[0]["n"] == total  # no file skipped
    final = q(db, "select ruleset_version v from daemon")[0]["v"]
    assert q(db, "select count(*) n from articles where scanned_ruleset != ? or scanned_ruleset is null",
             (final,))[0]["n"] == 0
    live_alerts = sorted(r["id"] for r in q(db, "select id from alerts"))
    clean_alerts = sorted(r["id"] for r in q(clean_db, "select id from alerts"))
    expected = sum(1 for i in range(total) if i % 3 == 0 or i % 7 == 0)
    assert len(clean_alerts) == expected
    assert live_alerts == clean_alerts
    assert q(db, "select count(*) n from (select rule_id, article_id from alerts group by 1, 2 "
                 "having count(*) > 1)")[0]["n"] == 0
    # Widened-rule alerts exist only because the new version rescanned older articles.
    assert q(db, "select count(*) n from alerts where evidence like '%unloaded%'")[0]["n"] == sum(
        1 for i in range(total) if i % 7 == 0 and i % 3 != 0)
    assert q(db, "select count(*) n from errors where stage in ('daemon', 'scan')")[0]["n"] == 0
    assert "unloaded" in article_text(7)
    cycles = q(db, "select count(*) n from runs where kind like 'source:%'")[0]["n"]
    finished = q(db, "select count(*) n from runs where status = 'ok'")[0]["n"]
    interrupted = q(db, "select count(*) n from runs where status = 'running'")[0]["n"]  # killed mid-cycle
    print(f"crash test: {kills} kill -9 ({interrupted} in the middle of a cycle), {cycles} cycles started, "
          f"{finished} finished ok, {total} articles, {len(live_alerts)} alerts")
    assert kills == ROUNDS and interrupted >= 3
