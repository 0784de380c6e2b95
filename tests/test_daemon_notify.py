"""Notifications through apprise to a real webhook receiver on 127.0.0.1, persisted in SQLite."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from daemon_helpers import make_project, q, start_daemon, stop, wait_for, wait_started, write_articles
from monitor.config import NotifyConfig, load_config
from monitor.errors import ConfigError
from monitor.notify import notify_pending
from monitor.pipeline import Analyzer
from monitor.rules import load_rules
from monitor.scan import run_once
from monitor.store import Store


class Receiver:
    """A webhook endpoint: records every JSON body; answers ``status`` (settable)."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if outer.status == 200:
                    outer.bodies.append(json.loads(data))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def scanned_project(tmp_path: Path, n: int) -> tuple[Path, Store]:
    cfg = make_project(tmp_path)
    config = load_config(cfg)
    store = Store.open(config.database)
    write_articles(tmp_path / "articles", 0, n)
    return cfg, store


def run_cycle(cfg: Path, store: Store) -> None:
    config = load_config(cfg)
    run_once(config, store, Analyzer(load_rules(list(config.rules))))


def test_one_message_per_alert_never_resent_after_restart(tmp_path, receiver):
    cfg, store = scanned_project(tmp_path, 0)
    ncfg = NotifyConfig((receiver.url,), min_level="high", dedupe=("rule_id", "article_id"))
    assert notify_pending(store, ncfg).sent == 0  # enabling notifications does not send old alerts
    write_articles(tmp_path / "articles", 0, 9)
    run_cycle(cfg, store)
    r = notify_pending(store, ncfg)
    assert (r.sent, r.failed) == (3, 0)
    assert len(receiver.bodies) == 3
    assert all("Shipment to Zenda" in b["title"] and "Zenda" in b["message"] for b in receiver.bodies)
    assert notify_pending(store, ncfg).sent == 0
    store.close()
    store = Store.open(tmp_path / "monitor.db")  # a restart
    assert notify_pending(store, ncfg).sent == 0
    assert len(receiver.bodies) == 3
    assert q(tmp_path / "monitor.db", "select status, count(*) n from notifications group by status") == [
        {"status": "sent", "n": 3}]


def test_failures_are_recorded_and_retried_later(tmp_path, receiver):
    cfg, store = scanned_project(tmp_path, 0)
    ncfg = NotifyConfig((receiver.url,), min_level="high", dedupe=("rule_id", "article_id"), retry=60)
    notify_pending(store, ncfg)
    write_articles(tmp_path / "articles", 0, 6)
    run_cycle(cfg, store)
    receiver.status = 500
    r = notify_pending(store, ncfg)
    assert (r.sent, r.failed) == (0, 2)
    rows = q(tmp_path / "monitor.db", "select status, attempts, last_error from notifications")
    assert all(x["status"] == "failed" and x["attempts"] == 1 and x["last_error"] for x in rows)
    assert q(tmp_path / "monitor.db", "select count(*) n from errors where stage = 'notify'")[0]["n"] == 2
    receiver.status = 200
    assert notify_pending(store, ncfg).sent == 0  # not due yet: back-off
    later = datetime.now(timezone.utc) + timedelta(seconds=61)
    r = notify_pending(store, ncfg, now=later)
    assert (r.sent, r.failed) == (2, 0)
    assert len(receiver.bodies) == 2


def test_realert_window_and_digest(tmp_path, receiver):
    cfg, store = scanned_project(tmp_path, 0)
    ncfg = NotifyConfig((receiver.url,), min_level="high", mode="digest")  # dedupe: rule_id + captures
    notify_pending(store, ncfg)
    write_articles(tmp_path / "articles", 0, 9)  # 3 shipments, same rule, same captures
    run_cycle(cfg, store)
    r = notify_pending(store, ncfg)
    assert (r.sent, r.skipped) == (1, 2)
    digest = NotifyConfig((receiver.url,), min_level="high", mode="digest", dedupe=("rule_id", "article_id"))
    write_articles(tmp_path / "articles", 9, 30)  # 7 more shipments (9, 12, ..., 27)
    run_cycle(cfg, store)
    r = notify_pending(store, digest)
    assert r.sent == 7
    assert len(receiver.bodies) == 2
    assert receiver.bodies[1]["title"].startswith("monitor: 7 new alerts")


def test_notify_config_errors_point_at_the_line(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("rules: [rules]\nnotify:\n  urls:\n    - nosuchscheme://x\n")
    with pytest.raises(ConfigError) as e:
        load_config(cfg)
    assert str(e.value).startswith(f"{cfg}:4:") and "apprise URL" in str(e.value)
    cfg.write_text("rules: [rules]\nnotify:\n  urls: [json://localhost/x]\n  mode: weekly\n")
    with pytest.raises(ConfigError) as e:
        load_config(cfg)
    assert str(e.value).startswith(f"{cfg}:4:") and "per-alert, digest" in str(e.value)
    cfg.write_text("rules: [rules]\nrescan_days: -1\n")
    with pytest.raises(ConfigError) as e:
        load_config(cfg)
    assert str(e.value).startswith(f"{cfg}:2:")


def test_daemon_notifies_once_across_restarts(tmp_path, receiver):
    cfg = make_project(tmp_path, every="0.5s", extra=(
        f"notify:\n  urls: [{receiver.url}]\n  min_level: high\n  dedupe: [rule_id, article_id]\n"))
    db = tmp_path / "monitor.db"
    proc = start_daemon(cfg)
    wait_started(proc, db)
    write_articles(tmp_path / "articles", 0, 12)
    wait_for(lambda: len(receiver.bodies) == 4, 20, "4 notifications", proc)
    assert stop(proc)[0] == 0
    proc = start_daemon(cfg)
    wait_started(proc, db)
    write_articles(tmp_path / "articles", 12, 15)
    wait_for(lambda: len(receiver.bodies) == 5, 20, "the 5th notification", proc)
    assert stop(proc)[0] == 0
    ids = [b["message"].rsplit("alert: ", 1)[1].strip() for b in receiver.bodies]
    assert len(set(ids)) == 5


def test_alerts_joining_a_dismissed_incident_are_not_sent(tmp_path, receiver):
    import subprocess
    import sys
    cfg, store = scanned_project(tmp_path, 0)
    ncfg = NotifyConfig((receiver.url,), min_level="high")  # default dedupe: incident and level
    assert ncfg.dedupe == ("incident_id", "level")
    notify_pending(store, ncfg)
    write_articles(tmp_path / "articles", 0, 3)  # one shipment report
    run_cycle(cfg, store)
    assert notify_pending(store, ncfg).sent == 1
    db = tmp_path / "monitor.db"
    (incident,) = q(db, "select id from incidents")
    subprocess.run([sys.executable, "-m", "sqlite_utils", "query", str(db),
                    "update incidents set status = 'dismissed', note = 'old news' where id = :id",
                    "-p", "id", incident["id"]], check=True, capture_output=True)
    write_articles(tmp_path / "articles", 3, 9)  # two more reports join the dismissed incident
    run_cycle(cfg, store)
    r = notify_pending(store, ncfg)
    assert (r.sent, r.skipped) == (0, 2)
    rows = q(db, "select n.status, n.last_error, a.status as alert_status from notifications n "
                 "join alerts a on a.id = n.alert_id order by n.created_at, n.alert_id")
    assert sorted(x["status"] for x in rows) == ["sent", "skipped", "skipped"]
    assert all(x["alert_status"] == "dismissed" for x in rows)  # the incident's dismissal reached every alert
    assert all("dismissed" in x["last_error"] for x in rows if x["status"] == "skipped")
    assert len(receiver.bodies) == 1
