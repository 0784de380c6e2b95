"""Correlations over incidents' alerts: "the same group reported by N independent sources within W days".

A mixin of :class:`monitor.incidents.Grouper`: for each new alert of a watched rule it counts the
independent sources (copy clusters) of its group in SQL, lets durable-rules decide whether the
threshold is crossed (:class:`monitor.engine.CorrelationEngine`), and records the firing in
``correlation_hits``/``correlation_members`` so it fires once per group and period, also across
restarts. Dismissed alerts do not count.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from .correlation import Correlation
from .store import iso_utc

__all__ = ["Corroborating", "best_window", "epoch", "shift_iso"]

log = logging.getLogger("monitor")


@lru_cache(maxsize=65536)
def epoch(t: str) -> float:
    return datetime.fromisoformat(t).timestamp()


def shift_iso(t: str, days: float) -> str:
    return iso_utc(datetime.fromtimestamp(epoch(t) + days * 86400, timezone.utc))


def best_window(members: list[dict[str, Any]], t: str, days: float) -> tuple[int, str, list[dict[str, Any]]]:
    """The window of ``days`` starting at a member dated no later than ``t`` with the most independent
    sources (copy clusters): (sources, start, members inside). ``members`` are in published order."""
    best: tuple[int, str, list[dict[str, Any]]] = (0, t, [])
    counts: dict[str, int] = {}
    j = 0
    for i, m in enumerate(members):
        if m["published_at"] > t:
            break
        if i and m["published_at"] == members[i - 1]["published_at"]:
            continue  # the same start as the previous member
        end = shift_iso(m["published_at"], days)
        while j < len(members) and members[j]["published_at"] <= end:
            counts[members[j]["cluster_id"]] = counts.get(members[j]["cluster_id"], 0) + 1
            j += 1
        if len(counts) > best[0]:
            best = (len(counts), m["published_at"], members[i:j])
        k = i  # drop the members that start before the next distinct start
        while k < len(members) and members[k]["published_at"] == m["published_at"]:
            c = members[k]["cluster_id"]
            counts[c] -= 1
            if not counts[c]:
                del counts[c]
            k += 1
    return best


class Corroborating:
    """Correlation evaluation for :class:`monitor.incidents.Grouper` (which provides ``engine``,
    ``_rows`` and ``_regroup``)."""

    engine: Any
    _rows: Any  # (db, where, params) -> alert rows, see Grouper._rows
    _regroup: Any  # (db, key, now, lo, hi) -> None, see Grouper._regroup

    def _group_filter(self, corr: Correlation, a: dict[str, Any]) -> tuple[str, list[Any], str]:
        conds = [f"a.rule_id in ({', '.join('?' for _ in corr.rules)})", "a.status != 'dismissed'"]
        params: list[Any] = list(corr.rules)
        key: list[Any] = []
        fields = list(corr.group_by)
        if ("supplier" in fields or "recipient" in fields) and not (a["supplier"] or a["recipient"]):
            fields = [f for f in fields if f not in ("supplier", "recipient")] + ["parties"]
            conds += ["+a.supplier = ''", "+a.recipient = ''"]  # "+": look up by parties, not by the empty roles
        for f in fields:
            col = "rule_id" if f == "rule" else f
            conds.append(f"a.{col} = ?")
            params.append(a[col])
            key.append([f, json.loads(a[col]) if f == "parties" else a[col]])
        return " and ".join(conds), params, json.dumps(key)

    def _correlate(self, db: Any, corr: Correlation, alert_id: str, now: str) -> None:
        assert self.engine is not None
        a = self._rows(db, "where a.id = ?", [alert_id])[0]
        if a["status"] == "dismissed":
            return
        where, params, group = self._group_filter(corr, a)
        t, w = a["published_at"], corr.window_days
        lo, hi = shift_iso(t, -w), shift_iso(t, w)
        hit = db.execute("select id, window_start, window_end from correlation_hits where correlation_id = ? and "
                         "group_key = ? and window_end >= ? and window_start <= ? order by fired_at limit 1",
                         [corr.id, group, lo, hi]).fetchone()
        if hit is not None:  # already fired for this group and period: the alert joins it, nothing fires again
            if db.execute("insert or ignore into correlation_members (hit_id, alert_id) values (?, ?)",
                          [hit[0], alert_id]).rowcount == 1:
                self._hit_totals(db, hit[0], now)
                known = db.execute("select 1 from incidents i, json_each(i.corroborated_by) c where i.id = ? "
                                   "and c.value = ?", [a["incident_id"], corr.id]).fetchone()
                if a["incident_key"] and not known:  # its incident is corroborated now
                    self._regroup(db, a["incident_key"], now, t, t)
            return
        members = self._rows(db, f"where {where} and ar.published_at between ? and ?", params + [lo, hi])
        sources, start, inside = best_window(members, t, w)
        if not self.engine.crossing([{"corr": corr.id, "sources": sources, "fired": 0}]):
            return
        hid = hashlib.sha256(f"{corr.id}\x00{group}\x00{start}".encode()).hexdigest()[:16]
        db.execute("insert into correlation_hits (id, correlation_id, group_key, level, corroborates, "
                   "window_start, window_end, sources, articles, alerts, fired_at, updated_at) values "
                   "(?, ?, ?, ?, ?, ?, ?, 0, 0, '[]', ?, ?)",
                   [hid, corr.id, group, corr.level, int(corr.corroborated), start, inside[-1]["published_at"], now, now])
        log.info("correlation %s fired for %s: %d independent sources", corr.id, group, sources)
        for m in inside:
            db.execute("insert or ignore into correlation_members (hit_id, alert_id) values (?, ?)", [hid, m["id"]])
        self._hit_totals(db, hid, now)
        for key in sorted({m["incident_key"] for m in inside if m["incident_key"]}):  # their incidents are corroborated
            self._regroup(db, key, now, inside[0]["published_at"], inside[-1]["published_at"])

    @staticmethod
    def _hit_totals(db: Any, hid: str, now: str) -> None:
        """A firing's period, independent sources, articles and alert list, from its members."""
        db.execute(
            "update correlation_hits set (window_start, window_end, sources, articles, alerts) = "
            "(select min(ar.published_at), max(ar.published_at), count(distinct coalesce(s.cluster_id, a.article_id)), "
            "count(distinct a.article_id), json_group_array(a.id) from correlation_members m "
            "join alerts a on a.id = m.alert_id join articles ar on ar.id = a.article_id "
            "left join article_signatures s on s.article_id = a.article_id where m.hit_id = :id), "
            "updated_at = :now where id = :id", {"id": hid, "now": now})
