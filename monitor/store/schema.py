"""The database schema, as sqlite-utils migrations applied in order when a store opens.

Part of the store package (the only code that imports ``sqlite_utils``). Never edit a
migration that has shipped: add the next one.
"""

from __future__ import annotations

from datetime import datetime, timezone

import sqlite_utils
from sqlite_utils.migrations import Migrations

__all__ = ["migrations", "utcnow", "iso_utc"]

migrations = Migrations("monitor")


def iso_utc(dt: datetime) -> str:
    """An aware datetime as the schema's ISO-8601 UTC text (``YYYY-MM-DDTHH:MM:SSZ``)."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def utcnow() -> str:
    return iso_utc(datetime.now(timezone.utc))


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


@migrations()
def m007_alert_retraction(db: sqlite_utils.Database) -> None:
    """Alerts a later scan no longer raises are marked retracted (never deleted: triage is kept).

    ``alerts_review`` shows current alerts only, with who sent what to whom, how firmly it is
    claimed and the incident each alert belongs to.
    """
    db["alerts"].add_column("retracted_at", str, not_null_default="")
    db["alerts"].create_index(["retracted_at"])
    db.create_view("alerts_review", """
        select a.id as alert, a.level, a.rule_id as rule, a.supplier, a.recipient, a.assertion, a.message,
               a.evidence, a.status, a.note, a.incident_id as incident, ar.title, ar.url, ar.source,
               ar.published_at, a.created_at, a.article_id
        from alerts a join articles ar on ar.id = a.article_id
        where a.retracted_at = ''
        order by ar.published_at desc, a.created_at desc, a.severity desc""", replace=True)
    db.create_view("alerts_retracted", """
        select a.id as alert, a.level, a.rule_id as rule, a.retracted_at, a.rule_version, a.status, a.note,
               a.message, ar.title, a.article_id
        from alerts a join articles ar on ar.id = a.article_id
        where a.retracted_at != ''
        order by a.retracted_at desc""", replace=True)
