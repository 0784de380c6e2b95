"""Helpers for daemon tests: a small project on disk and a real ``monitor run`` process."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from conftest import rows as q  # noqa: F401  (daemon tests import q from here)

REPO = Path(__file__).resolve().parent.parent

RULE = """\
kind: rule
id: zenda_shipment
title: Shipment to Zenda
level: high
scope: sentence
patterns:
  place: {{terms: [Zenda]}}
  ship: {{terms: [{verbs}]}}
match:
  all: [place, ship]
message: "{{place}}: {{ship.terms}}"
tests:
  - {{text: "Crates were shipped to Zenda.", match: true}}
  - {{text: "Zenda is quiet.", match: false}}
"""


def rule_text(verbs: str = "shipped, delivered") -> str:
    return RULE.format(verbs=verbs)


def article_text(i: int) -> str:
    """Every third article reports a shipment; every seventh is 'unloaded' (matched only by a wider rule)."""
    if i % 3 == 0:
        body = f"Cargo lot {i} was shipped to Zenda on a Tuesday."
    elif i % 7 == 0:
        body = f"Cargo lot {i} was unloaded in Zenda at night."
    else:
        body = f"Market report {i}: prices were steady in Strelsau."
    return f"Report {i}\n\n{body} Filler sentence number {i}.\n"


def write_articles(folder: Path, start: int, stop: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, stop):
        tmp = folder / f".a{i:05d}.tmp"
        tmp.write_text(article_text(i), encoding="utf-8")
        tmp.rename(folder / f"a{i:05d}.txt")  # appear whole, as a real feed writer should


def make_project(root: Path, every: str = "1s", extra: str = "") -> Path:
    """config.yaml + rules/ + articles/ under ``root``; returns the config path."""
    (root / "rules").mkdir(parents=True, exist_ok=True)
    (root / "rules" / "zenda.yaml").write_text(rule_text(), encoding="utf-8")
    (root / "articles").mkdir(exist_ok=True)
    cfg = root / "config.yaml"
    cfg.write_text(f"database: monitor.db\nrules: [rules]\nrules_poll: 0.5s\nsources:\n"
                   f"  - {{name: wire, kind: folder, path: articles, every: {every}}}\n{extra}", encoding="utf-8")
    return cfg


def start_daemon(config: Path, *args: str) -> subprocess.Popen:
    """``python -m monitor --config CONFIG run ARGS`` from the repo; output appends to daemon.log beside it."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    with open(config.parent / "daemon.log", "a", encoding="utf-8") as log:
        return subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "run", *args],
                                cwd=str(REPO), env=env, stdout=log, stderr=subprocess.STDOUT)


def log_of(config: Path) -> str:
    return (config.parent / "daemon.log").read_text(encoding="utf-8")


def monitor(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "monitor", "--config", str(config), *args], cwd=str(REPO),
                          env=env, capture_output=True, text=True, timeout=timeout)


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15) -> tuple[int, float]:
    """Send ``sig``; returns (exit code, seconds until the process exited)."""
    t0 = time.monotonic()
    proc.send_signal(sig)
    proc.wait(timeout=timeout)
    return proc.returncode, time.monotonic() - t0


def wait_for(check: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"daemon exited ({proc.returncode}) while waiting for {what}")
        try:
            if check():
                return
        except sqlite3.OperationalError:  # table not created yet
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def wait_started(proc: subprocess.Popen, db: Path, timeout: float = 30) -> None:
    """Until this process has written its heartbeat row (its signal handlers are installed by then)."""
    wait_for(lambda: q(db, "select pid from daemon where status = 'running'") == [{"pid": proc.pid}],
             timeout, "the daemon to start", proc)
