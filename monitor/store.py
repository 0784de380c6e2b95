"""The SQLite store: the only module that imports ``sqlite_utils``.

The schema is a user interface (analysts read it with the ``sqlite-utils`` CLI):
flat columns, ISO-8601 UTC times, JSON text for lists, and review views. The
database runs in WAL mode with a busy timeout, and every write is a short
``BEGIN IMMEDIATE`` transaction so analysts can triage while the monitor runs.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import sqlite_utils
from sqlite_utils.migrations import Migrations

from .errors import Location, StoreError

__all__ = ["Store", "utcnow", "BUSY_TIMEOUT_MS"]

BUSY_TIMEOUT_MS = 10_000
JSON_COLUMNS = ("spans", "captures", "notes", "regimes", "resolutions")
migrations = Migrations("monitor")


def utcnow() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db["articles"].create({
        "id": str, "source": str, "url": str, "title": str, "published_at": str, "published_at_source": str,
        "ingested_at": str, "text": str, "content_hash": str, "origin": str, "format": str, "chars": int,
        "repairs": str, "scanned_ruleset": str, "scanned_at": str, "scan_error": str,
    }, pk="id", defaults={"published_at_source": "article", "repairs": "[]"})
    db["articles"].create_index(["content_hash"], unique=True)
    db["articles"].create_index(["scanned_ruleset"])
    db["articles"].create_index(["published_at"])
    db["articles"].create_index(["url"])
    db["alerts"].create({
        "id": str, "rule_id": str, "rule_version": str, "ruleset_version": str, "rule_title": str, "level": str,
        "severity": int, "message": str, "article_id": str, "evidence": str, "evidence_field": str,
        "evidence_start": int, "evidence_end": int, "spans": str, "captures": str, "notes": str,
        "matched_units": int, "status": str, "note": str, "created_at": str, "updated_at": str,
    }, pk="id", defaults={"status": "new", "note": ""}, foreign_keys=[("article_id", "articles", "id")])
    for cols in (["article_id"], ["rule_id"], ["status"], ["severity"]):
        db["alerts"].create_index(cols)
    db["errors"].create({
        "id": int, "at": str, "stage": str, "source": str, "item": str, "location": str, "reason": str,
    }, pk="id")
    db["runs"].create({
        "id": int, "kind": str, "started_at": str, "finished_at": str, "status": str, "ruleset_version": str,
        "articles_ingested": int, "duplicates": int, "articles_scanned": int, "alerts_new": int,
        "alerts_updated": int, "errors": int, "detail": str,
    }, pk="id")
    db["articles"].enable_fts(["title", "text"], fts_version="FTS5", create_triggers=True)
    db.create_view("alerts_review", """
        select a.id as alert, a.level, a.rule_id as rule, a.message, a.evidence, a.status, a.note,
               ar.title, ar.url, ar.source, ar.published_at, a.created_at, a.article_id
        from alerts a join articles ar on ar.id = a.article_id
        order by ar.published_at desc, a.created_at desc, a.severity desc""")
    db.create_view("errors_recent", "select * from errors order by id desc")


@migrations()
def m002_alert_roles(db: sqlite_utils.Database) -> None:
    """Who sent what to whom, how firmly it is claimed, and which regimes apply (filled by the rules)."""
    for col, default in (("supplier", ""), ("recipient", ""), ("supplier_text", ""), ("recipient_text", ""),
                         ("item", ""), ("assertion", ""), ("regimes", "[]"), ("resolutions", "[]")):
        db["alerts"].add_column(col, str, not_null_default=default)
    db["alerts"].create_index(["supplier", "recipient"])


@migrations()
def m003_sources(db: sqlite_utils.Database) -> None:
    """Per-source state (feeds: conditional GET, backoff), seen files, and which sources carried each article."""
    db["source_state"].create({
        "name": str, "kind": str, "location": str, "last_attempt_at": str, "last_success_at": str,
        "last_error_at": str, "last_error": str, "failures": int, "next_try_at": str, "gave_up_at": str,
        "etag": str, "last_modified": str, "articles_added": int, "duplicates": int, "errors": int,
    }, pk="name", not_null={"failures", "articles_added", "duplicates", "errors"},
        defaults={"failures": 0, "articles_added": 0, "duplicates": 0, "errors": 0})
    db["source_files"].create({
        "source": str, "path": str, "size": int, "mtime_ns": int, "content_hash": str, "ingested_at": str,
        "articles": int, "errors": int,
    }, pk=("source", "path"))
    db["article_sources"].create({
        "article_id": str, "source": str, "url": str, "origin": str, "seen_at": str,
    }, foreign_keys=[("article_id", "articles", "id")])
    db["article_sources"].create_index(["article_id", "source", "origin"], unique=True)
    db["article_sources"].create_index(["source"])
    db["article_sources"].create_index(["url"])
    db["articles"].add_column("author", str, not_null_default="")
    db.execute("insert or ignore into article_sources (article_id, source, url, origin, seen_at) "
               "select id, source, url, origin, ingested_at from articles")
    db.create_view("article_sources_review", """
        select s.source, s.seen_at, ar.title, ar.url, ar.published_at, s.url as carried_url, s.origin,
               (select count(distinct s2.source) from article_sources s2 where s2.article_id = s.article_id)
                 as carried_by, s.article_id
        from article_sources s join articles ar on ar.id = s.article_id
        order by s.seen_at desc""")


@migrations()
def m005_daemon(db: sqlite_utils.Database) -> None:
    """The daemon's heartbeat, per-job schedule and results, and sent notifications."""
    db["daemon"].create({
        "id": int, "pid": int, "host": str, "config": str, "started_at": str, "heartbeat_at": str,
        "stopped_at": str, "status": str, "ruleset_version": str, "ruleset_loaded_at": str,
    }, pk="id")
    db["jobs"].create({
        "name": str, "kind": str, "schedule": str, "last_started_at": str, "last_finished_at": str,
        "last_status": str, "last_error": str, "next_run_at": str, "last_ingested": int, "last_scanned": int,
        "last_alerts_new": int, "runs_ok": int, "runs_failed": int,
    }, pk="name", defaults={"runs_ok": 0, "runs_failed": 0, "last_error": ""})
    db["notifications"].create({
        "alert_id": str, "dedupe_key": str, "level": str, "status": str, "attempts": int, "last_error": str,
        "created_at": str, "sent_at": str, "next_attempt_at": str,
    }, pk="alert_id", defaults={"attempts": 0, "last_error": ""})
    db["notifications"].create_index(["dedupe_key"])
    db["notifications"].create_index(["status", "next_attempt_at"])
    db["monitor_state"].create({"key": str, "value": str}, pk="key")


@migrations()
def m006_incidents(db: sqlite_utils.Database) -> None:
    """Near-duplicate copy clusters, incidents (one row per real-world event) and correlation firings."""
    db["article_signatures"].create({
        "article_id": str, "cluster_id": str, "outlet": str, "shingles": int, "minhash": bytes, "created_at": str,
    }, pk="article_id", foreign_keys=[("article_id", "articles", "id")])
    db["article_signatures"].create_index(["cluster_id"])
    db["article_bands"].create({"band": int, "hash": int, "article_id": str})
    db["article_bands"].create_index(["band", "hash"])
    db["article_bands"].create_index(["article_id"])
    db["incidents"].create({
        "id": str, "rule_id": str, "supplier": str, "recipient": str, "item": str, "parties": str, "key": str,
        "first_seen": str, "last_seen": str, "articles": int, "sources": int, "outlets": str, "copies": str,
        "level": str, "severity": int, "assertion": str, "evidence": str, "evidence_alert": str,
        "corroborated": int, "corroborated_by": str, "status": str, "note": str, "dismissed_severity": int,
        "created_at": str, "updated_at": str,
    }, pk="id", defaults={"status": "new", "note": "", "corroborated": 0, "corroborated_by": "[]",
                          "parties": "[]", "outlets": "[]", "copies": "[]", "dismissed_severity": -1})
    for cols in (["key"], ["status"], ["last_seen"]):
        db["incidents"].create_index(cols)
    db["alerts"].add_column("incident_id", str)
    db["alerts"].add_column("incident_key", str)
    db["alerts"].add_column("parties", str, not_null_default="[]")
    db["alerts"].create_index(["incident_id"])
    db["alerts"].create_index(["incident_key"])
    db["alerts"].create_index(["parties"])
    db["correlation_hits"].create({
        "id": str, "correlation_id": str, "group_key": str, "level": str, "corroborates": int, "window_start": str, "window_end": str,
        "sources": int, "articles": int, "alerts": str, "fired_at": str, "updated_at": str,
    }, pk="id")
    db["correlation_hits"].create_index(["correlation_id", "group_key"])
    db["correlation_members"].create({"hit_id": str, "alert_id": str}, pk=("hit_id", "alert_id"))
    db["correlation_members"].create_index(["alert_id"])
    # Triage at incident level from the sqlite-utils CLI: confirming or dismissing an incident (or
    # changing its note) applies to its alerts; a dismissal remembers the level it dismissed.
    db.execute("""
        create trigger incidents_triage after update of status, note on incidents
        when new.status != old.status or new.note != old.note
        begin
            update alerts set status = case when new.status in ('confirmed', 'dismissed') then new.status
                                            else status end,
                              note = new.note, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
            where incident_id = new.id;
            update incidents set dismissed_severity = case when new.status = 'dismissed' then new.severity
                                                           else -1 end,
                                 updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
            where id = new.id;
        end""")
    db.create_view("incidents_review", """
        select i.id as incident, i.level, i.rule_id as rule, i.supplier, i.recipient, i.item, i.parties,
               i.first_seen, i.last_seen, i.articles, i.sources, i.corroborated, i.assertion, i.evidence,
               i.status, i.note, i.outlets, i.copies
        from incidents i
        order by i.severity desc, i.sources desc, i.last_seen desc""")
    db.create_view("incident_alerts", """
        select a.incident_id as incident, a.id as alert, a.level, a.rule_id as rule, a.status, a.note,
               ar.published_at, ar.source, ar.url, ar.title, s.cluster_id as copy_of, s.outlet, a.evidence,
               a.article_id
        from alerts a join articles ar on ar.id = a.article_id
        left join article_signatures s on s.article_id = a.article_id
        where a.incident_id is not null
        order by a.incident_id, ar.published_at, a.article_id""")


class Store:
    """A monitor database file. Use :meth:`open`; close with :meth:`close` or ``with``."""

    def __init__(self, db: sqlite_utils.Database, path: str) -> None:
        self.db = db
        self.path = path

    @classmethod
    def open(cls, path: str | Path) -> "Store":
        p = Path(path)
        try:
            if p.parent and not p.parent.exists():
                p.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(p), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
            db = sqlite_utils.Database(conn)
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            db.enable_wal()
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA foreign_keys = ON")
            migrations.apply(db)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open database: {exc}", Location(str(p))) from exc
        return cls(db, str(p))

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """A short write transaction that takes the write lock up front."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    # ------------------------------------------------------------ articles

    def add_article(self, record: dict[str, Any]) -> bool:
        """Insert an article unless its content hash is already stored. True if added."""
        with self.transaction() as db:
            cur = db.execute(
                "insert or ignore into articles (id, source, url, title, published_at, published_at_source, "
                "ingested_at, text, content_hash, origin, format, chars, repairs) values "
                "(:id, :source, :url, :title, :published_at, :published_at_source, :ingested_at, :text, "
                ":content_hash, :origin, :format, :chars, :repairs)",
                {**record, "repairs": json.dumps(record.get("repairs", []))},
            )
            return cur.rowcount == 1

    def add_article_from(self, record: dict[str, Any], source: str, carried_url: str = "") -> tuple[str, bool]:
        """Store an article once (same content hash, or same canonical URL, is a duplicate) and note
        that ``source`` carried it. Returns (article id, True if newly added)."""
        return self.add_articles_from([(record, carried_url)], source)[0]

    def add_articles_from(self, batch: list[tuple[dict[str, Any], str]], source: str,
                          files: list[tuple[str, int, int, str, int, int]] | None = None) -> list[tuple[str, bool]]:
        """:meth:`add_article_from` for a batch of (record, carried URL) in one short transaction, with the
        state of the files they came from: (path, size, mtime_ns, content hash, articles, errors)."""
        now = utcnow()
        out = []
        with self.transaction() as db:
            for path, size, mtime_ns, digest, articles, errors in files or []:
                db.execute("insert or replace into source_files (source, path, size, mtime_ns, content_hash, "
                           "ingested_at, articles, errors) values (?, ?, ?, ?, ?, ?, ?, ?)",
                           [source, path, size, mtime_ns, digest, now, articles, errors])
            for record, carried_url in batch:
                row = db.execute("select id from articles where content_hash = ?", [record["content_hash"]]).fetchone()
                if row is None and record.get("url"):
                    row = db.execute("select id from articles where url = ? limit 1", [record["url"]]).fetchone()
                added = row is None
                if added:
                    db.execute(
                        "insert into articles (id, source, url, title, published_at, published_at_source, "
                        "ingested_at, text, content_hash, origin, format, chars, repairs, author) values "
                        "(:id, :source, :url, :title, :published_at, :published_at_source, :ingested_at, :text, "
                        ":content_hash, :origin, :format, :chars, :repairs, :author)",
                        {"author": "", **record, "repairs": json.dumps(record.get("repairs", []))})
                article_id = record["id"] if added else row[0]
                db.execute("insert or ignore into article_sources (article_id, source, url, origin, seen_at) "
                           "values (?, ?, ?, ?, ?)", [article_id, source, carried_url or record.get("url") or "",
                                                      record.get("origin") or "", now])
                out.append((article_id, added))
            # The source's counters move in the same transaction, so a kill never loses or repeats them.
            n_added = sum(1 for _, a in out if a)
            db.execute("update source_state set articles_added = articles_added + ?, duplicates = duplicates + ? "
                       "where name = ?", [n_added, len(out) - n_added, source])
        return out

    def article_for_url(self, *urls: str) -> str | None:
        """The id of the article stored under one of these URLs (canonical, or as a source carried it)."""
        for url in urls:
            if not url:
                continue
            row = (self.db.execute("select id from articles where url = ? limit 1", [url]).fetchone()
                   or self.db.execute("select article_id from article_sources where url = ? limit 1", [url]).fetchone())
            if row:
                return str(row[0])
        return None

    def article_for_hash(self, content_hash: str) -> str | None:
        """The id of the article stored with this content hash (see ``ingest.content_hash``)."""
        row = self.db.execute("select id from articles where content_hash = ?", [content_hash]).fetchone()
        return str(row[0]) if row else None

    def note_carrier(self, article_id: str, source: str, url: str, origin: str) -> None:
        """Record that ``source`` carried an already stored article (counted as one of its duplicates)."""
        with self.transaction() as db:
            db.execute("insert or ignore into article_sources (article_id, source, url, origin, seen_at) "
                       "values (?, ?, ?, ?, ?)", [article_id, source, url, origin, utcnow()])
            db.execute("update source_state set duplicates = duplicates + 1 where name = ?", [source])

    # ------------------------------------------------------------ source state

    def source_state(self, name: str) -> dict[str, Any]:
        """The state row of a source (empty dict if it never ran)."""
        rows = self.query("select * from source_state where name = ?", [name])
        return rows[0] if rows else {}

    def update_source_state(self, name: str, add: dict[str, int] | None = None, **values: Any) -> None:
        """Set columns of a source's state row (created if missing); ``add`` increments counters."""
        with self.transaction() as db:
            db.execute("insert or ignore into source_state (name) values (?)", [name])
            sets = [f"[{k}] = :{k}" for k in values] + [f"[{k}] = [{k}] + :add_{k}" for k in (add or {})]
            if sets:
                params = {**values, **{f"add_{k}": v for k, v in (add or {}).items()}, "name": name}
                db.execute(f"update source_state set {', '.join(sets)} where name = :name", params)

    def file_states(self, source: str) -> dict[str, tuple[int, int, str]]:
        """path -> (size, mtime_ns, content_hash) for the files a folder source has read."""
        rows = self.db.execute("select path, size, mtime_ns, content_hash from source_files where source = ?",
                               [source]).fetchall()
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    @staticmethod
    def _to_scan(since: str | None) -> str:
        """Never-scanned articles, plus (when ``since`` is given) only those published since then."""
        if since is None:
            return "(scanned_ruleset is null or scanned_ruleset != :v)"
        return ("(scanned_ruleset is null or (scanned_ruleset != :v and "
                "coalesce(nullif(published_at, ''), ingested_at) >= :since))")

    def articles_to_scan(self, ruleset_version: str, limit: int = 100, after: str = "",
                         since: str | None = None) -> list[dict[str, Any]]:
        """Articles not yet scanned by ``ruleset_version`` in id order; ``since`` limits rescans."""
        rows = self.db.execute(
            "select id, title, text, published_at from articles where id > :after and "
            f"{self._to_scan(since)} order by id limit :limit",
            {"after": after, "v": ruleset_version, "limit": limit, "since": since},
        ).fetchall()
        return [dict(zip(("id", "title", "text", "published_at"), r)) for r in rows]

    def count_to_scan(self, ruleset_version: str, since: str | None = None) -> int:
        return self.db.execute(f"select count(*) from articles where {self._to_scan(since)}",
                               {"v": ruleset_version, "since": since}).fetchone()[0]

    def save_scan(self, article_id: str, ruleset_version: str, alerts: list[dict[str, Any]],
                  error: str = "") -> tuple[int, int]:
        """Store one article's alerts and mark it scanned, atomically. Returns (new, updated)."""
        new = updated = 0
        now = utcnow()
        with self.transaction() as db:
            for alert in alerts:
                row = {**alert}
                for key in JSON_COLUMNS:
                    if key in row:
                        row[key] = json.dumps(row[key], ensure_ascii=False)
                exists = db.execute("select 1 from alerts where id = ?", [row["id"]]).fetchone()
                if exists:
                    # Analyst fields (status, note) and created_at are never overwritten.
                    cols = [k for k in row if k not in ("id", "created_at")]
                    db.execute(f"update alerts set {', '.join(f'{c} = :{c}' for c in cols)}, updated_at = :now "
                               "where id = :id", {**row, "now": now})
                    updated += 1
                else:
                    row.update(created_at=now, updated_at=now)
                    db["alerts"].insert(row)
                    new += 1
            db.execute("update articles set scanned_ruleset = ?, scanned_at = ?, scan_error = ? where id = ?",
                       [ruleset_version, now, error or None, article_id])
        return new, updated

    # ------------------------------------------------------------ errors and runs

    def record_error(self, stage: str, source: str, item: str, reason: str, location: str = "") -> None:
        """One row in ``errors``; an ingest error also counts in its source's ``source_state.errors``."""
        with self.transaction() as db:
            db["errors"].insert({"at": utcnow(), "stage": stage, "source": source, "item": item,
                                 "location": location, "reason": reason})
            if stage == "ingest":
                db.execute("update source_state set errors = errors + 1 where name = ?", [source])

    def start_run(self, kind: str, ruleset_version: str) -> int:
        with self.transaction() as db:
            db["runs"].insert({"kind": kind, "started_at": utcnow(), "status": "running",
                               "ruleset_version": ruleset_version})
            return int(db.execute("select last_insert_rowid()").fetchone()[0])

    def finish_run(self, run_id: int, status: str, **counts: Any) -> None:
        with self.transaction() as db:
            db["runs"].update(run_id, {"finished_at": utcnow(), "status": status, **counts})

    # ------------------------------------------------------------ reading

    def count(self, table: str, where: str = "", params: list[Any] | None = None) -> int:
        sql = f"select count(*) from [{table}]" + (f" where {where}" if where else "")
        return int(self.db.execute(sql, params or []).fetchone()[0])

    def backup(self, dest: str | Path) -> None:
        """Copy the database to ``dest`` with SQLite's online backup API (safe while it is written)."""
        target = sqlite3.connect(str(dest))
        try:
            self.db.conn.backup(target, pages=1024)
        except sqlite3.Error as exc:
            raise StoreError(f"backup failed: {exc}", Location(str(dest))) from exc
        finally:
            target.close()

    def query(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> list[dict[str, Any]]:
        cur = self.db.execute(sql, params or [])
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row)) for row in cur.fetchall()]
