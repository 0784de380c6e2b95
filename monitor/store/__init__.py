"""The SQLite store: the only package that imports ``sqlite_utils`` (schema in ``store/schema.py``).

The schema is a user interface (analysts read it with the ``sqlite-utils`` CLI):
flat columns, ISO-8601 UTC times, JSON text for lists, and review views. The
database runs in WAL mode with a busy timeout, and every write is a short
``BEGIN IMMEDIATE`` transaction so analysts can triage while the monitor runs.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import sqlite_utils

from ..errors import Location, StoreError
from .schema import iso_utc, migrations, utcnow

__all__ = ["Store", "utcnow", "iso_utc", "BUSY_TIMEOUT_MS"]

BUSY_TIMEOUT_MS = 10_000
JSON_COLUMNS = ("spans", "captures", "notes", "regimes", "resolutions")
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

    def add_articles_from(self, batch: list[tuple[dict[str, Any], str]], source: str,
                          files: list[tuple[str, int, int, str, int, int]] | None = None) -> list[tuple[str, bool]]:
        """Store a batch of (record, carried URL) once each (same content hash, or same canonical URL, is a
        duplicate) and note that ``source`` carried them, in one short transaction, with the
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
        """Never-scanned articles, plus (when ``since`` is given) only those published or ingested since then."""
        if since is None:
            return "(scanned_ruleset is null or scanned_ruleset != :v)"
        return ("(scanned_ruleset is null or (scanned_ruleset != :v and "
                "(coalesce(nullif(published_at, ''), ingested_at) >= :since or ingested_at >= :since)))")

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
        """Store one article's alerts and mark it scanned, atomically. Returns (new, updated).

        Alerts of the article that this (error-free) scan no longer raises are marked
        ``retracted_at``; one that is raised again is current again. Status and note are kept.
        """
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
                    db.execute(f"update alerts set {', '.join(f'{c} = :{c}' for c in cols)}, updated_at = :now, "
                               "retracted_at = '' where id = :id", {**row, "now": now})
                    updated += 1
                else:
                    row.update(created_at=now, updated_at=now)
                    db["alerts"].insert(row)
                    new += 1
            if not error:  # a clean scan that no longer raises an alert retracts it (triage is kept)
                keep = [a["id"] for a in alerts]
                others = f" and id not in ({', '.join('?' for _ in keep)})" if keep else ""
                db.execute("update alerts set retracted_at = ?, updated_at = ? where article_id = ? and "
                           "retracted_at = ''" + others, [now, now, article_id, *keep])
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
