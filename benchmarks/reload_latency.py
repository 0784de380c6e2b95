"""Hot-reload latency of a running daemon: from a rule file being written to the new ruleset being active.

    python benchmarks/reload_latency.py [--reloads 5] [--poll 0.5s]

Starts a real ``monitor run`` on a copy of the default rules and demo articles in a
temporary folder, edits one rule's title several times, and prints the time until
the ``daemon`` table reports the new ruleset version (includes the poll interval,
lint, the inline tests of every rule and the swap).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def version(db: Path) -> str | None:
    try:
        conn = sqlite3.connect(db, timeout=5)
        try:
            row = conn.execute("select ruleset_version, status from daemon").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return row[0] if row and row[1] == "running" else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reloads", type=int, default=5)
    ap.add_argument("--poll", default="0.5s")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copytree(ROOT / "rules", root / "rules")
        shutil.copytree(ROOT / "examples" / "articles", root / "articles")
        cfg = root / "config.yaml"
        cfg.write_text(f"database: monitor.db\nrules: [rules]\nrules_poll: {args.poll}\nsources:\n"
                       "  - {name: demo, kind: folder, path: articles, every: 1h}\n")
        db = root / "monitor.db"
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        log = open(root / "daemon.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(cfg), "run"], cwd=str(ROOT),
                                env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while version(db) is None and time.monotonic() < deadline:
                time.sleep(0.05)
            rule = sorted((root / "rules").rglob("*.yaml"))[-1]
            original = rule.read_text(encoding="utf-8")
            times = []
            for i in range(args.reloads):
                before = version(db)
                text = re.sub(r"^title: (.*)$", rf"title: \1 (edit {i})", original, count=1, flags=re.M)
                t0 = time.monotonic()
                rule.write_text(text, encoding="utf-8")
                while version(db) in (before, None):
                    if time.monotonic() - t0 > 60:
                        raise SystemExit("no reload within 60 s; see " + str(root / "daemon.log"))
                    time.sleep(0.01)
                times.append(time.monotonic() - t0)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            log.close()
        ms = [t * 1000 for t in times]
        print(f"rules: {len(list((root / 'rules').rglob('*.yaml')))} files (default rules), poll {args.poll}")
        print(f"reload latency over {len(ms)} edits: median {statistics.median(ms):.0f} ms, "
              f"min {min(ms):.0f} ms, max {max(ms):.0f} ms")
        validated = re.findall(r"validated in (\d+) ms", (root / "daemon.log").read_text())
        if validated:
            print(f"of which lint + inline tests: median {statistics.median(map(int, validated)):.0f} ms")


if __name__ == "__main__":
    main()
