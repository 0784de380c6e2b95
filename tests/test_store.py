"""The SQLite store: WAL, idempotent migrations, review views, errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from monitor.store import Store


def article(i: int, published: str) -> dict:
    return {"id": f"art{i:013d}", "source": "test", "url": f"https://example.org/{i}", "title": f"Title {i}",
            "published_at": published, "published_at_source": "article", "ingested_at": "2025-01-01T00:00:00Z",
            "text": f"Article number {i} text.", "content_hash": f"hash{i}", "origin": f"file{i}.txt",
            "format": "text", "chars": 20, "repairs": []}


def alert(i: int, article_id: str, level: str = "high", severity: int = 3) -> dict:
    return {"id": f"alert{i:011d}", "rule_id": "r", "rule_version": "v1", "ruleset_version": "rs1",
            "rule_title": "R", "level": level, "severity": severity, "message": f"message {i}",
            "article_id": article_id, "evidence": f"Article number {i} text.", "evidence_field": "text",
            "evidence_start": 0, "evidence_end": 20, "spans": [], "captures": {"x": ["PRK"]}, "notes": [],
            "matched_units": 1}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "sub" / "store.db"


def raw(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    return conn


def test_wal_mode_seen_from_another_connection(db_path):
    with Store.open(db_path):
        pass
    conn = raw(db_path)
    try:
        assert conn.execute("pragma journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_migrations_are_idempotent(db_path):
    with Store.open(db_path) as s:
        assert s.add_article(article(1, "2025-01-01T00:00:00Z"))
    with Store.open(db_path) as s:  # second open: migrations already applied, data kept
        assert s.count("articles") == 1
    conn = raw(db_path)
    try:
        names = {r["name"] for r in conn.execute("select name from sqlite_master where type in ('table', 'view')")}
        applied = conn.execute("select count(*) from _sqlite_migrations").fetchone()[0]
    finally:
        conn.close()
    assert {"articles", "alerts", "errors", "runs", "alerts_review", "errors_recent", "articles_fts"} <= names
    with Store.open(db_path) as s:
        assert s.count("_sqlite_migrations") == applied
        assert s.count("articles") == 1


def test_duplicate_content_is_not_added_twice(db_path):
    with Store.open(db_path) as s:
        assert s.add_article(article(1, "2025-01-01T00:00:00Z")) is True
        dup = article(1, "2025-01-01T00:00:00Z")
        dup["id"] = "other-id"
        assert s.add_article(dup) is False
        assert s.count("articles") == 1


def test_alerts_review_lists_newest_first(db_path):
    dates = ["2024-03-01T00:00:00Z", "2025-06-01T00:00:00Z", "2023-01-01T00:00:00Z"]
    with Store.open(db_path) as s:
        for i, d in enumerate(dates):
            a = article(i, d)
            s.add_article(a)
            assert s.save_scan(a["id"], "rs1", [alert(i, a["id"])]) == (1, 0)
    conn = raw(db_path)
    try:
        assert conn.execute("select type from sqlite_master where name = 'alerts_review'").fetchone()[0] == "view"
        got = [dict(r) for r in conn.execute("select alert, published_at, level, status, note from alerts_review")]
    finally:
        conn.close()
    assert [g["published_at"] for g in got] == sorted(dates, reverse=True)
    assert [g["alert"] for g in got] == ["alert00000000001", "alert00000000000", "alert00000000002"]
    assert all(g["status"] == "new" and g["note"] == "" and g["level"] == "high" for g in got)


def test_save_scan_never_overwrites_analyst_fields(db_path):
    with Store.open(db_path) as s:
        a = article(1, "2025-01-01T00:00:00Z")
        s.add_article(a)
        s.save_scan(a["id"], "rs1", [alert(1, a["id"])])
    conn = raw(db_path)
    conn.execute("update alerts set status = 'dismissed', note = 'old news'")
    conn.commit()
    conn.close()
    with Store.open(db_path) as s:
        changed = alert(1, a["id"], level="medium", severity=2)
        assert s.save_scan(a["id"], "rs2", [changed]) == (0, 1)
        row = s.query("select status, note, level from alerts")[0]
    assert row == {"status": "dismissed", "note": "old news", "level": "medium"}


def test_errors_rows_are_written_and_listed_newest_first(db_path):
    with Store.open(db_path) as s:
        s.record_error("ingest", "demo", "a.txt", "empty file")
        s.record_error("scan", "", "art1", "boom", location="a.txt:3")
    conn = raw(db_path)
    try:
        rows = [dict(r) for r in conn.execute("select stage, source, item, location, reason, at from errors_recent")]
    finally:
        conn.close()
    assert [(r["stage"], r["item"], r["reason"], r["location"]) for r in rows] == [
        ("scan", "art1", "boom", "a.txt:3"), ("ingest", "a.txt", "empty file", "")]
    assert all(r["at"].endswith("Z") and len(r["at"]) == 20 for r in rows)
