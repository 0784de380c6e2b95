"""Tell people about new alerts through apprise (email, Slack, Matrix, Telegram, webhooks, ...).

Every alert at or above ``min_level`` created after notifications were first
enabled gets one row in ``notifications`` (keyed by alert id), so a restart never
re-sends. A row is ``skipped`` when its dedupe key was already notified within
the re-alert window, ``sent`` once delivered, and ``failed`` (retried later with
doubling back-off) when the notifier failed. Sending happens outside any write
transaction and in its own thread, so a slow or broken notifier never blocks scanning.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .config import NotifyConfig
from .ruletypes import level_rank
from .store import Store, utcnow
from .store import iso_utc as _iso

__all__ = ["NotifyReport", "notify_pending", "send"]

log = logging.getLogger("monitor.notify")
MAX_BACKOFF = 6 * 3600.0
BATCH = 200


@dataclass
class NotifyReport:
    queued: int = 0
    skipped: int = 0
    sent: int = 0
    failed: int = 0


def send(urls: tuple[str, ...], title: str, body: str) -> str:
    """Deliver one message to every URL; '' on success, else the reason."""
    import apprise  # imported lazily: only configs with notify need it

    ap = apprise.Apprise()
    for url in urls:
        ap.add(url)
    try:
        with apprise.LogCapture(level=apprise.logging.WARNING) as captured:
            ok = ap.notify(body=body, title=title)
            detail = captured.getvalue().strip()
    except Exception as exc:  # a notifier plug-in bug must never reach the scheduler
        return f"{type(exc).__name__}: {exc}"
    if ok:
        return ""
    return " ".join(detail.split())[-500:] or "the notifier reported a failure"


def _since(store: Store) -> str:
    """Alerts created before notifications were first enabled are never sent (no flood on enable)."""
    rows = store.query("select value from monitor_state where key = 'notify_since'")
    if rows:
        return str(rows[0]["value"])
    now = utcnow()
    with store.transaction() as db:
        db.execute("insert or ignore into monitor_state (key, value) values ('notify_since', ?)", [now])
    return str(store.query("select value from monitor_state where key = 'notify_since'")[0]["value"])


def _queue(store: Store, cfg: NotifyConfig, now: datetime, report: NotifyReport) -> None:
    """Give every new alert at or above min_level a notifications row: pending or skipped."""
    # An alert not yet grouped into an incident stands for itself.
    cols = ", ".join("coalesce(a.incident_id, 'alert:' || a.id) as incident_id" if c == "incident_id" else f"a.{c}"
                     for c in cfg.dedupe)
    rows = store.query(
        f"select a.id, a.level, a.status, a.created_at, {cols} from alerts a where a.severity >= ? and a.created_at >= ? and a.retracted_at = '' "
        "and a.id not in (select alert_id from notifications) order by a.created_at, a.id limit ?",
        [level_rank(cfg.min_level), _since(store), BATCH])
    if not rows:
        return
    window_start = _iso(now - timedelta(seconds=cfg.realert))
    stamp = _iso(now)
    with store.transaction() as db:
        for r in rows:
            key = json.dumps([r[c] for c in cfg.dedupe], ensure_ascii=False)
            recent = cfg.realert > 0 and db.execute(
                "select 1 from notifications where dedupe_key = ? and status != 'skipped' and created_at >= ? "
                "limit 1", [key, window_start]).fetchone()
            dismissed = r["status"] == "dismissed"  # triaged, or joined a dismissed incident at its level
            status = "skipped" if recent or dismissed else "pending"
            reason = ("alert dismissed (by an analyst or with its incident)" if dismissed else
                      "same dedupe key notified within the re-alert window" if recent else "")
            db.execute("insert or ignore into notifications (alert_id, dedupe_key, level, status, attempts, "
                       "last_error, created_at, next_attempt_at) values (?, ?, ?, ?, 0, ?, ?, ?)",
                       [r["id"], key, r["level"], status, reason, stamp, stamp])
            report.skipped += status == "skipped"
            report.queued += status == "pending"


def _message(alerts: list[dict[str, Any]]) -> tuple[str, str]:
    def line(a: dict[str, Any]) -> str:
        where = f" ({a['url']})" if a.get("url") else ""
        return (f"[{a['level']}] {a['rule_title'] or a['rule_id']}: {a['message']}\n"
                f"  article: {a['title'] or a['article_id']}{where}\n  alert: {a['id']}")
    if len(alerts) == 1:
        a = alerts[0]
        return f"monitor: {a['level']} alert: {a['rule_title'] or a['rule_id']}", line(a)
    top = max(alerts, key=lambda a: level_rank(a["level"]))["level"]
    return (f"monitor: {len(alerts)} new alerts (highest: {top})",
            "\n\n".join(line(a) for a in alerts))


def _record(store: Store, rows: list[dict[str, Any]], reason: str, cfg: NotifyConfig, now: datetime) -> None:
    stamp = _iso(now)
    with store.transaction() as db:
        for r in rows:
            if not reason:
                db.execute("update notifications set status = 'sent', sent_at = ?, attempts = attempts + 1, "
                           "last_error = '' where alert_id = ?", [stamp, r["alert_id"]])
            else:
                delay = min(cfg.retry * 2 ** int(r["attempts"]), MAX_BACKOFF)
                db.execute("update notifications set status = 'failed', attempts = attempts + 1, last_error = ?, "
                           "next_attempt_at = ? where alert_id = ?",
                           [reason, _iso(now + timedelta(seconds=delay)), r["alert_id"]])
    if reason:
        store.record_error("notify", ",".join(u.split("://")[0] for u in cfg.urls),
                           ",".join(r["alert_id"] for r in rows[:20]), reason)


def notify_pending(store: Store, cfg: NotifyConfig, now: datetime | None = None) -> NotifyReport:
    """Queue new alerts, then send every due pending or failed notification."""
    now = now or datetime.now(timezone.utc)
    report = NotifyReport()
    _queue(store, cfg, now, report)
    due = store.query(
        "select n.alert_id, n.attempts, a.id, a.level, a.rule_id, a.rule_title, a.message, a.article_id, "
        "ar.title, ar.url from notifications n join alerts a on a.id = n.alert_id "
        "left join articles ar on ar.id = a.article_id "
        "where n.status in ('pending', 'failed') and n.next_attempt_at <= ? order by n.created_at, n.alert_id "
        "limit ?", [_iso(now), BATCH])
    groups = [due] if cfg.mode == "digest" and due else [[r] for r in due]
    for group in groups:
        title, body = _message(group)
        reason = send(cfg.urls, title, body)
        _record(store, group, reason, cfg, now)
        if reason:
            report.failed += len(group)
            log.warning("notification failed for %d alert(s), will retry: %s", len(group), reason)
        else:
            report.sent += len(group)
    return report
