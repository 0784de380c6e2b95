"""End to end on the shared seed articles: real files, the real CLI, a real SQLite file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import invoke, rows

RULE = "arms_transfer_embargoed_state"


def sqlite_utils_cli() -> str:
    exe = Path(sys.executable).parent / "sqlite-utils"
    if exe.exists():
        return str(exe)
    found = shutil.which("sqlite-utils")
    assert found, "the sqlite-utils CLI is not installed next to the test interpreter"
    return found



def count(db: Path, table: str) -> int:
    return rows(db, f"select count(*) as n from [{table}]")[0]["n"]


@pytest.fixture
def seed_files(seeds: Path) -> list[Path]:
    files = sorted(seeds.glob("*.txt"))
    assert len(files) == 5, files
    return files


@pytest.fixture
def seeded(tmp_path: Path, repo: Path, runner, seed_files: list[Path]) -> tuple[Path, list[str]]:
    """Ingest the 5 seed files and scan; returns (db, common CLI args)."""
    db = tmp_path / "seeds.db"
    base = ["--config", str(repo / "config.yaml"), "--db", str(db)]
    r = invoke(runner, *base, "ingest", *map(str, seed_files))
    assert r.exit_code == 0, r.output
    assert "ingested 5 new article(s) from 5 file(s)" in r.output
    r = invoke(runner, *base, "scan")
    assert r.exit_code == 0, r.output
    assert count(db, "articles") == 5
    return db, base


def _by_seed(db: Path) -> dict[str, dict]:
    """Seed file name -> its article row."""
    out = {}
    for a in rows(db, "select * from articles"):
        out[Path(a["origin"]).name] = a
    return out


def test_every_seed_has_a_medium_or_higher_purchase_alert_naming_prk_and_rus(seeded, seed_files):
    db, _ = seeded
    articles = _by_seed(db)
    assert sorted(articles) == sorted(f.name for f in seed_files)
    for name, art in sorted(articles.items()):
        alerts = rows(db, "select * from alerts where article_id = ? and rule_id = ?", (art["id"], RULE))
        assert len(alerts) == 1, f"{name}: expected one {RULE} alert, got {alerts}"
        a = alerts[0]
        assert a["severity"] >= 2, f"{name}: level {a['level']} (severity {a['severity']}) is below medium"
        assert a["level"] in ("medium", "high", "critical"), name
        ev = a["evidence"]
        assert "North Korea" in ev or "Hermit Kingdom" in ev, f"{name}: evidence {ev!r}"
        assert any(w in ev.lower() for w in ("purchas", "buy", "bought")), f"{name}: evidence {ev!r}"
        # The evidence is a sentence of the stored article (title or text).
        assert ev in " ".join(art["text"].split()) or ev in art["title"], f"{name}: evidence not in article"
        captures = json.loads(a["captures"])
        assert "PRK" in captures.get("embargoed", []), f"{name}: captures {captures}"
        assert "RUS" in captures.get("party", []), f"{name}: captures {captures}"
        assert a["status"] == "new" and a["note"] == ""


def test_seed_000_mojibake_is_repaired_and_recorded(seeded):
    db, _ = seeded
    art = _by_seed(db)["000_c82b38732b8d3376.txt"]
    assert "â€" not in art["text"] and "†" not in art["text"]
    assert "â€" not in art["title"] and "†" not in art["title"]
    repairs = json.loads(art["repairs"])
    assert any(r.startswith("lossy-quote") for r in repairs), repairs


def test_reingest_and_rescan_add_nothing(seeded, runner, seed_files, seeds):
    db, base = seeded
    alerts_before = rows(db, "select id, rule_id, article_id, created_at from alerts order by id")
    articles_before = count(db, "articles")

    r = invoke(runner, *base, "ingest", str(seeds))
    assert r.exit_code == 0, r.output
    assert count(db, "articles") == articles_before == 5
    assert "ingested 0 new article(s)" in r.output
    assert "5 already stored" in r.output

    r = invoke(runner, *base, "scan")
    assert r.exit_code == 0, r.output
    assert "0 new alert(s)" in r.output
    after = rows(db, "select id, rule_id, article_id, created_at from alerts order by id")
    assert after == alerts_before


def test_forced_rescan_keeps_analyst_status_and_note(seeded, runner):
    db, base = seeded
    target = rows(db, "select id from alerts where rule_id = ? order by id limit 1", (RULE,))[0]["id"]
    n_before = count(db, "alerts")
    ids_before = [r["id"] for r in rows(db, "select id from alerts order by id")]

    cmd = [sqlite_utils_cli(), "query", str(db),
           f"update alerts set status='confirmed', note='x' where id='{target}'"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert rows(db, "select status, note from alerts where id = ?", (target,)) == [
        {"status": "confirmed", "note": "x"}]

    proc = subprocess.run([sqlite_utils_cli(), "query", str(db), "update articles set scanned_ruleset = null"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr

    r = invoke(runner, *base, "scan")
    assert r.exit_code == 0, r.output
    assert "scanned 5 article(s)" in r.output
    assert "0 new alert(s)" in r.output
    assert count(db, "alerts") == n_before
    assert [r["id"] for r in rows(db, "select id from alerts order by id")] == ids_before
    assert rows(db, "select status, note from alerts where id = ?", (target,)) == [
        {"status": "confirmed", "note": "x"}]
    # every article is marked scanned again
    assert count(db, "articles") == 5
    assert rows(db, "select count(*) as n from articles where scanned_ruleset is null")[0]["n"] == 0
