"""Incidents: the alerts of many articles about one real-world event, grouped and triaged together.

After each article is scanned, :meth:`Grouper.article_scanned` (in one short
transaction, idempotent, so a killed process loses nothing):

1. signs the article and puts it in a near-duplicate copy cluster (:mod:`monitor.neardup`);
2. gives each of its alerts an *incident key*: rule, supplier, recipient and item when the
   rule names a supplier or recipient, else rule plus the article's *parties* (the embargoed
   state nearest the matched words and the nearest other state, from the alert's spans);
3. regroups every alert with that key: sorted by published time, a gap longer than
   ``incident_window_days`` starts a new incident, so the incidents do not depend on the
   order articles arrive in; existing incidents keep their id, status and note;
4. evaluates the ``kind: correlation`` rules over the groups the alerts touched
   (independent sources counted in SQL, the decision made by durable-rules, what fired
   persisted in ``correlation_hits`` so it fires once and survives restarts).

An alert joining a dismissed incident is dismissed with it unless its level is
higher than the level the incident had when dismissed; then the incident reopens.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from .correlation import Correlation
from .engine import CorrelationEngine
from .neardup import assign_cluster, outlet_of
from .ruletypes import LEVELS, Rule, RuleSet
from .store import Store, utcnow

__all__ = ["Grouper", "ASSERTION_RANK", "parties_of", "incident_key", "DEFAULT_WINDOW_DAYS"]

log = logging.getLogger("monitor")
DEFAULT_WINDOW_DAYS = 30
STATE_LIST = "states"
# Strongest first: an incident shows the firmest claim among its alerts.
ASSERTION_RANK = {"reported": 6, "alleged": 5, "planned": 4, "historical": 3, "hypothetical": 2, "denied": 1, "": 0}
_ALERT_COLS = ("id", "rule_id", "supplier", "recipient", "item", "parties", "incident_id", "incident_key",
               "severity", "level", "assertion", "evidence", "status", "article_id", "published_at", "cluster_id",
               "outlet")
_ALERTS_SQL = (
    "select a.id, a.rule_id, a.supplier, a.recipient, a.item, a.parties, a.incident_id, a.incident_key, "
    "a.severity, a.level, a.assertion, a.evidence, a.status, a.article_id, ar.published_at, "
    "coalesce(s.cluster_id, a.article_id), coalesce(s.outlet, ar.source) "
    "from alerts a join articles ar on ar.id = a.article_id "
    "left join article_signatures s on s.article_id = a.article_id ")


@lru_cache(maxsize=65536)
def _epoch(t: str) -> float:
    return datetime.fromisoformat(t).timestamp()


def _iso(t: str, days: float) -> str:
    return datetime.fromtimestamp(_epoch(t) + days * 86400, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _gap_days(a: str, b: str) -> float:
    return (_epoch(b) - _epoch(a)) / 86400


def parties_of(rule: Rule | None, spans: list[dict[str, Any]], captures: dict[str, Any],
               state_ids: set[str]) -> list[str]:
    """The (at most two) states an alert is about, until rules fill supplier and recipient.

    The embargoed state (a state pattern with a ``where`` filter) nearest the other matched
    words, plus the nearest different state; without spans, every state id in the captures.
    """
    state_pats = {n for n, p in (rule.patterns.items() if rule else ()) if p.kind == "list" and p.list_id == STATE_LIST}
    filtered = {n for n in state_pats if rule and rule.patterns[n].where}
    states = [s for s in spans if s.get("pattern") in state_pats and s.get("entry")]
    words = [s for s in spans if s.get("pattern") not in state_pats]

    def dist(s: dict[str, Any]) -> tuple[int, int]:
        gaps = [max(0, w["start"] - s["end"], s["start"] - w["end"]) for w in words if w["field"] == s["field"]]
        return (min(gaps) if gaps else 1 << 30, s["start"] + (0 if s["field"] == "title" else 1 << 20))

    out: list[str] = []
    first = sorted((s for s in states if s["pattern"] in filtered) or states, key=dist)
    if first:
        out.append(first[0]["entry"])
        other = sorted((s for s in states if s["entry"] != out[0]), key=dist)
        if other:
            out.append(other[0]["entry"])
        return sorted(out)
    ids = {v for vals in captures.values() if isinstance(vals, list) for v in vals if v in state_ids}
    return sorted(ids)


def item_group(rule: Rule | None, item: str) -> str:
    """What moved, as an incident groups it: the vocabulary (list) of the rule's item pattern.

    Reports of one event name different items ("rockets" in one outlet, "artillery shells" in
    another), so alerts group on the kind of goods (arms, goods, ...), not on the exact entry.
    """
    if not item or rule is None or rule.roles is None or not rule.roles.item:
        return item
    pattern = rule.patterns.get(rule.roles.item)
    return pattern.list_id if pattern is not None and pattern.list_id else item


def incident_key(rule_id: str, supplier: str, recipient: str, item: str, parties: list[str]) -> str:
    if supplier or recipient:
        return json.dumps([rule_id, supplier, recipient, item])
    return json.dumps([rule_id, "", "", item, parties])


class Grouper:
    """Groups scanned articles' alerts into incidents and evaluates correlations."""

    def __init__(self, ruleset: RuleSet, window_days: float = DEFAULT_WINDOW_DAYS) -> None:
        self.ruleset = ruleset
        self.window_days = float(window_days)
        self.correlations: list[Correlation] = [c for c in ruleset.correlations if c.enabled]
        self.engine = CorrelationEngine(self.correlations) if self.correlations else None
        states = ruleset.lists.get(STATE_LIST)
        self.state_ids = {e.id for e in states.entries} if states else set()
        self._caught_up = False

    # ------------------------------------------------------------ entry points

    def article_scanned(self, store: Store, article_id: str) -> None:
        """Group one scanned article (what ``scan_pending`` calls). Never raises: problems go to ``errors``."""
        try:
            if not self._caught_up:
                self._caught_up = True
                self.catch_up(store)
            self.group_article(store, article_id)
        except Exception as exc:  # grouping must never stop the scan
            log.exception("grouping article %s failed", article_id)
            store.record_error("incidents", "", article_id, f"{type(exc).__name__}: {exc}")

    def catch_up(self, store: Store) -> int:
        """Group alerts left without an incident (e.g. after a kill between scan and grouping)."""
        ids = [r["article_id"] for r in store.query(
            "select distinct article_id from alerts where incident_id is null and retracted_at = '' "
            "order by article_id")]
        for aid in ids:
            self.group_article(store, aid)
        return len(ids)

    def rebuild(self, store: Store, progress: Any = None) -> int:
        """Regroup every alerted article, oldest first (after changing ``incident_window_days`` or the rules).

        Incidents keep their id, status and note where their alerts stay together.
        """
        ids = [r["article_id"] for r in store.query(
            "select a.article_id, min(ar.published_at) as t from alerts a join articles ar on ar.id = a.article_id "
            "group by a.article_id order by t, a.article_id")]
        for i, aid in enumerate(ids, 1):
            self.group_article(store, aid)
            if progress is not None:
                progress(i, len(ids))
        return len(ids)

    def group_article(self, store: Store, article_id: str) -> None:
        with store.transaction() as db:
            rows = db.execute("select id, rule_id, supplier, recipient, item, spans, captures, incident_key, "
                              "retracted_at from alerts where article_id = ?", [article_id]).fetchall()
            if not rows:
                return
            keys: set[str] = set()
            for aid, *_, old_key, retracted in rows:
                if retracted and old_key:  # no longer raised: it leaves its incident (which is regrouped)
                    db.execute("update alerts set incident_key = null, incident_id = null where id = ?", [aid])
                    keys.add(old_key)
            alerts = [r[:-1] for r in rows if not r[-1]]
            art = db.execute("select title, text, url, source from articles where id = ?", [article_id]).fetchone()
            title, text, url, source = art
            now = utcnow()
            cluster, merged = assign_cluster(db, article_id, text or title or "", outlet_of(url, source), now)
            published = db.execute("select published_at from articles where id = ?", [article_id]).fetchone()[0]
            if merged:  # copies that were separate sources are now one: their incidents count again
                for key, lo, hi in db.execute(
                        "select a.incident_key, min(ar.published_at), max(ar.published_at) from alerts a "
                        "join articles ar on ar.id = a.article_id join article_signatures s on s.article_id = a.article_id "
                        "where s.cluster_id = ? and a.incident_key is not null and a.article_id != ? "
                        "group by a.incident_key", [cluster, article_id]).fetchall():
                    self._regroup(db, key, now, lo, hi)
            for aid, rule_id, supplier, recipient, item, spans, captures, old_key in alerts:
                parties = parties_of(self.ruleset.rule(rule_id), json.loads(spans or "[]"),
                                     json.loads(captures or "{}"), self.state_ids)
                key = incident_key(rule_id, supplier, recipient, item_group(self.ruleset.rule(rule_id), item),
                                   parties)
                if key != old_key:
                    db.execute("update alerts set incident_key = ?, parties = ? where id = ?",
                               [key, json.dumps(parties), aid])
                    if old_key:
                        keys.add(old_key)
                keys.add(key)
            for key in sorted(keys):
                self._regroup(db, key, now, published, published)
            for aid, rule_id, *_ in alerts:
                for corr in self.correlations:
                    if rule_id in corr.rules:
                        self._correlate(db, corr, aid, now)

    # ------------------------------------------------------------ incidents

    def _rows(self, db: Any, where: str, params: list[Any]) -> list[dict[str, Any]]:
        cur = db.execute(_ALERTS_SQL + where + " order by ar.published_at, a.article_id, a.id", params)
        return [dict(zip(_ALERT_COLS, r)) for r in cur.fetchall()]

    def _regroup(self, db: Any, key: str, now: str, lo: str, hi: str) -> None:
        """Regroup the alerts of ``key`` whose incidents can change when alerts dated ``lo``..``hi`` join or leave.

        Incidents of one key are separated by gaps longer than the window, so only the
        incidents that reach within a window of ``lo``..``hi`` (and ungrouped alerts) are touched.
        """
        a, b = _iso(lo, -self.window_days), _iso(hi, self.window_days)
        near = [r[0] for r in db.execute("select id from incidents where key = ? and first_seen <= ? and last_seen >= ?",
                                          [key, b, a]).fetchall()]
        marks = ", ".join("?" for _ in near) or "null"
        rows = self._rows(db, f"where a.incident_key = ? and (a.incident_id is null or a.incident_id in ({marks}) "
                              f"or ar.published_at between ? and ?)", [key, *near, lo, hi])
        segments: list[list[dict[str, Any]]] = []
        for r in rows:
            if segments and _gap_days(segments[-1][-1]["published_at"], r["published_at"]) <= self.window_days:
                segments[-1].append(r)
            else:
                segments.append([r])
        referenced = {r["incident_id"] for r in rows if r["incident_id"]} | set(near)
        existing = {row[0]: row for row in db.execute(
            f"select id, created_at, status, note, dismissed_severity, key from incidents where id in "
            f"({', '.join('?' for _ in referenced) or 'null'})", sorted(referenced)).fetchall()}

        def free(iid: str) -> bool:  # an incident of another key can be taken over once none of its alerts remain
            other = existing[iid][5]
            return other == key or not db.execute("select 1 from alerts where incident_id = ? and incident_key = ?",
                                                  [iid, other]).fetchone()

        claimed: set[str] = set()
        for seg in segments:
            cands = sorted({r["incident_id"] for r in seg if r["incident_id"] in existing and free(r["incident_id"])}
                           - claimed, key=lambda i: (existing[i][1], i))
            if cands:
                iid = cands[0]
            else:
                n = 0
                while True:
                    iid = hashlib.sha256(f"{key}\x00{seg[0]['id']}\x00{n}".encode()).hexdigest()[:16]
                    if iid not in existing and iid not in claimed:
                        break
                    n += 1
            claimed.add(iid)
            self._write_incident(db, iid, key, seg, existing.get(iid), now)
        gone = sorted(set(existing) - claimed)
        for iid in gone:
            if not db.execute("select 1 from alerts where incident_id = ?", [iid]).fetchone():
                db.execute("delete from incidents where id = ?", [iid])

    def _write_incident(self, db: Any, iid: str, key: str, seg: list[dict[str, Any]], old: tuple | None,
                        now: str) -> None:
        ids = [r["id"] for r in seg]
        marks = ", ".join("?" for _ in ids)
        hits = db.execute(f"select distinct h.correlation_id, h.level, h.corroborates from correlation_members m "
                          f"join correlation_hits h on h.id = m.hit_id where m.alert_id in ({marks}) "
                          f"order by h.correlation_id", ids).fetchall()
        best = max(seg, key=lambda r: r["severity"])  # the strongest, the earliest on ties
        severity = max([r["severity"] for r in seg] + [LEVELS.index(h[1]) for h in hits if h[1]])
        copies: dict[str, dict[str, Any]] = {}
        for r in seg:
            c = copies.setdefault(r["cluster_id"], {"copy": r["cluster_id"], "first": r["published_at"],
                                                    "outlets": [], "articles": []})
            if r["outlet"] not in c["outlets"]:
                c["outlets"].append(r["outlet"])
            if r["article_id"] not in c["articles"]:
                c["articles"].append(r["article_id"])
        first = seg[0]
        # Item and parties come from one alert chosen by content, not arrival: the strongest, then by ids.
        rep = min(seg, key=lambda r: (-r["severity"], r["article_id"], r["id"]))
        row = {
            "id": iid, "rule_id": first["rule_id"], "supplier": first["supplier"], "recipient": first["recipient"],
            "item": rep["item"], "parties": rep["parties"], "key": key, "first_seen": seg[0]["published_at"],
            "last_seen": seg[-1]["published_at"], "articles": len({r["article_id"] for r in seg}),
            "sources": len(copies), "outlets": json.dumps(sorted({r["outlet"] for r in seg})),
            "copies": json.dumps(list(copies.values()), ensure_ascii=False), "level": LEVELS[severity],
            "severity": severity, "assertion": max((r["assertion"] for r in seg), key=lambda a: ASSERTION_RANK.get(a, 0)),
            "evidence": best["evidence"], "evidence_alert": best["id"],
            "corroborated": int(any(h[2] for h in hits)), "corroborated_by": json.dumps([h[0] for h in hits]),
            "updated_at": now,
        }
        if old is None:
            cols = list(row) + ["created_at"]
            db.execute(f"insert into incidents ({', '.join(cols)}) values ({', '.join(':' + c for c in cols)})",
                       {**row, "created_at": now})
            status, note, dismissed = "new", "", -1
        else:  # never touches status or note (the triage trigger watches them)
            db.execute(f"update incidents set {', '.join(f'{c} = :{c}' for c in row if c != 'id')} where id = :id", row)
            _, _, status, note, dismissed, _ = old
        joining = [r for r in seg if r["incident_id"] != iid]
        if joining:
            db.execute(f"update alerts set incident_id = ? where id in ({', '.join('?' for _ in joining)})",
                       [iid, *[r["id"] for r in joining]])
        if status != "dismissed":
            return
        quiet = [r["id"] for r in joining if r["status"] == "new" and r["severity"] <= dismissed]
        if quiet:
            db.execute(f"update alerts set status = 'dismissed', note = ?, updated_at = ? where id in "
                       f"({', '.join('?' for _ in quiet)})", [f"incident dismissed: {note}".strip(": "), now, *quiet])
        risen = [r for r in joining if r["status"] == "new" and r["severity"] > dismissed]
        if risen:  # the level rose above what was dismissed: reopen for triage
            level = LEVELS[max(r["severity"] for r in risen)]
            db.execute("update incidents set status = 'new', note = ? where id = ?",
                       [f"{note} | reopened: level rose to {level}".lstrip(" |"), iid])

    # ------------------------------------------------------------ correlations

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
        lo, hi = _iso(t, -w), _iso(t, w)
        members = self._rows(db, f"where {where} and ar.published_at between ? and ?", params + [lo, hi])
        best: tuple[int, str, list[dict[str, Any]]] = (0, t, [])
        for s in sorted({m["published_at"] for m in members if m["published_at"] <= t}):
            end = _iso(s, w)
            inside = [m for m in members if s <= m["published_at"] <= end]
            n = len({m["cluster_id"] for m in inside})
            if n > best[0]:
                best = (n, s, inside)
        sources, start, inside = best
        hit = db.execute("select id, window_start, window_end from correlation_hits where correlation_id = ? and "
                         "group_key = ? and window_end >= ? and window_start <= ? order by fired_at limit 1",
                         [corr.id, group, lo, hi]).fetchone()
        fact = {"corr": corr.id, "sources": sources, "fired": 1 if hit else 0}
        if hit is None:
            if not self.engine.crossing([fact]):
                return
            hid = hashlib.sha256(f"{corr.id}\x00{group}\x00{start}".encode()).hexdigest()[:16]
            db.execute("insert into correlation_hits (id, correlation_id, group_key, level, corroborates, "
                       "window_start, window_end, sources, articles, alerts, fired_at, updated_at) values "
                       "(?, ?, ?, ?, ?, ?, ?, ?, ?, '[]', ?, ?)",
                       [hid, corr.id, group, corr.level, int(corr.corroborated), start, inside[-1]["published_at"],
                        sources, len({m["article_id"] for m in inside}), now, now])
            log.info("correlation %s fired for %s: %d independent sources", corr.id, group, sources)
        else:  # already fired for this group and period: later articles join it, nothing fires again
            hid = hit[0]
            inside = [m for m in members if hit[1] <= m["published_at"] or m["id"] == alert_id]
            db.execute("update correlation_hits set window_start = min(window_start, ?), window_end = max(window_end, ?), "
                       "sources = max(sources, ?), articles = max(articles, ?), updated_at = ? where id = ?",
                       [inside[0]["published_at"], inside[-1]["published_at"], sources,
                        len({m["article_id"] for m in inside}), now, hid])
        added = [m for m in inside if db.execute("insert or ignore into correlation_members (hit_id, alert_id) "
                                                 "values (?, ?)", [hid, m["id"]]).rowcount == 1]
        if not added:
            return
        db.execute("update correlation_hits set alerts = (select json_group_array(alert_id) from correlation_members "
                   "where hit_id = ?) where id = ?", [hid, hid])
        for key in sorted({m["incident_key"] for m in added if m["incident_key"]}):  # their incidents are corroborated
            self._regroup(db, key, now, added[0]["published_at"], added[-1]["published_at"])
