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
from typing import Any

from .correlation import Correlation
from .corroborate import Corroborating, epoch as _epoch, shift_iso as _iso
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


class Grouper(Corroborating):
    """Groups scanned articles' alerts into incidents and evaluates correlations."""

    def __init__(self, ruleset: RuleSet, window_days: float = DEFAULT_WINDOW_DAYS) -> None:
        self.ruleset = ruleset
        self.window_days = float(window_days)
        self._resegment = False
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
        self._resegment = True  # the window may have changed: every incident is cut again
        try:
            for i, aid in enumerate(ids, 1):
                self.group_article(store, aid)
                if progress is not None:
                    progress(i, len(ids))
        finally:
            self._resegment = False
        return len(ids)

    def group_article(self, store: Store, article_id: str) -> None:
        with store.transaction() as db:
            rows = db.execute("select id, rule_id, supplier, recipient, item, spans, captures, incident_key, "
                              "retracted_at from alerts where article_id = ?", [article_id]).fetchall()
            if not rows:
                return
            keys: set[str] = set()
            left: set[str] = set()  # keys that lost alerts: their incidents may split or vanish
            for aid, *_, old_key, retracted in rows:
                if retracted and old_key:  # no longer raised: it leaves its incident (which is regrouped)
                    db.execute("update alerts set incident_key = null, incident_id = null where id = ?", [aid])
                    left.add(old_key)
            alerts = [r[:-1] for r in rows if not r[-1]]
            title, text, url, source, published = db.execute(
                "select title, text, url, source, published_at from articles where id = ?", [article_id]).fetchone()
            now = utcnow()
            cluster, merged = assign_cluster(db, article_id, text or title or "", outlet_of(url, source), now)
            if merged:  # copies that were separate sources are now one: their incidents count again
                for key, lo, hi in db.execute(
                        "select a.incident_key, min(ar.published_at), max(ar.published_at) from alerts a "
                        "join articles ar on ar.id = a.article_id join article_signatures s on s.article_id = a.article_id "
                        "where s.cluster_id = ? and a.incident_key is not null and a.article_id != ? "
                        "group by a.incident_key", [cluster, article_id]).fetchall():
                    self._regroup(db, key, now, lo, hi)
            for aid, rule_id, supplier, recipient, item, spans, captures, old_key in alerts:
                rule = self.ruleset.rule(rule_id)
                parties = parties_of(rule, json.loads(spans or "[]"), json.loads(captures or "{}"), self.state_ids)
                key = incident_key(rule_id, supplier, recipient, item_group(rule, item), parties)
                if key != old_key:
                    db.execute("update alerts set incident_key = ?, parties = ? where id = ?",
                               [key, json.dumps(parties), aid])
                    if old_key:
                        left.add(old_key)
                keys.add(key)
            for key in sorted(keys | left):
                self._regroup(db, key, now, published, published, resegment=key in left)
            for aid, rule_id, *_ in alerts:
                for corr in self.correlations:
                    if rule_id in corr.rules:
                        self._correlate(db, corr, aid, now)

    # ------------------------------------------------------------ incidents

    def _rows(self, db: Any, where: str, params: list[Any]) -> list[dict[str, Any]]:
        cur = db.execute(_ALERTS_SQL + where + " order by ar.published_at, a.article_id, a.id", params)
        return [dict(zip(_ALERT_COLS, r)) for r in cur.fetchall()]

    def _regroup(self, db: Any, key: str, now: str, lo: str, hi: str, resegment: bool = False) -> None:
        """Regroup the alerts of ``key`` whose incidents can change when alerts dated ``lo``..``hi`` join or leave.

        Incidents of one key are separated by gaps longer than the window, so only the
        incidents that reach within a window of ``lo``..``hi`` (and ungrouped alerts) are touched.
        The common case, new alerts joining the one incident they fall in, costs a few indexed
        queries whatever the incident's size; merging or splitting incidents re-segments them.
        """
        a, b = _iso(lo, -self.window_days), _iso(hi, self.window_days)
        near = [r[0] for r in db.execute("select id from incidents where key = ? and first_seen <= ? and last_seen >= ?",
                                          [key, b, a]).fetchall()]
        if len(near) == 1 and not (resegment or self._resegment) and self._join(db, near[0], key, now, lo, hi):
            return
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

    def _join(self, db: Any, iid: str, key: str, now: str, lo: str, hi: str) -> bool:
        """Fast path: the alerts of ``key`` dated ``lo``..``hi`` (or ungrouped) join incident ``iid``.

        Only when that changes no incident boundary: every such alert is ungrouped or already in
        ``iid``, and none falls before the incident's first alert (which could reorder a chain).
        """
        joining = self._rows(db, "where a.incident_key = ? and (a.incident_id is null or "
                                 "(ar.published_at between ? and ? and a.incident_id is not ?))", [key, lo, hi, iid])
        if any(r["incident_id"] for r in joining):
            return False
        old = db.execute("select id, created_at, status, note, dismissed_severity, key, first_seen from incidents "
                         "where id = ?", [iid]).fetchone()
        if old is None or old[5] != key or any(r["published_at"] < old[6] for r in joining):
            return False
        self._attach(db, iid, joining, old[2], old[3], old[4], now)
        self._summarise(db, iid, key, now)
        return True

    def _write_incident(self, db: Any, iid: str, key: str, seg: list[dict[str, Any]], old: tuple | None,
                        now: str) -> None:
        if old is None:
            db.execute("insert into incidents (id, key, rule_id, created_at, updated_at) values (?, ?, ?, ?, ?)",
                       [iid, key, seg[0]["rule_id"], now, now])
            status, note, dismissed = "new", "", -1
        else:
            _, _, status, note, dismissed, _ = old
        self._attach(db, iid, [r for r in seg if r["incident_id"] != iid], status, note, dismissed, now)
        self._summarise(db, iid, key, now)

    def _attach(self, db: Any, iid: str, joining: list[dict[str, Any]], status: str, note: str, dismissed: int,
                now: str) -> None:
        """Link ``joining`` alerts to ``iid``; in a dismissed incident they are dismissed unless their level is higher."""
        if not joining:
            return
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

    def _summarise(self, db: Any, iid: str, key: str, now: str) -> None:
        """Recompute an incident's columns from its alerts with aggregate SQL (never status or note)."""
        members = ("from alerts a join articles ar on ar.id = a.article_id "
                   "left join article_signatures s on s.article_id = a.article_id where a.incident_id = ?")
        first, last, articles, sources, top = db.execute(
            f"select min(ar.published_at), max(ar.published_at), count(distinct a.article_id), "
            f"count(distinct coalesce(s.cluster_id, a.article_id)), max(a.severity) {members}", [iid]).fetchone()
        # Item and parties come from one alert chosen by content, not arrival: the strongest, then by ids;
        # the evidence from the strongest, the earliest on ties.
        rep = db.execute(f"select a.rule_id, a.supplier, a.recipient, a.item, a.parties {members} "
                         f"order by a.severity desc, a.article_id, a.id limit 1", [iid]).fetchone()
        best = db.execute(f"select a.evidence, a.id {members} order by a.severity desc, ar.published_at, "
                          f"a.article_id, a.id limit 1", [iid]).fetchone()
        assertions = [r[0] for r in db.execute(f"select distinct a.assertion {members}", [iid]).fetchall()]
        outlets = db.execute(f"select json_group_array(o) from (select distinct coalesce(s.outlet, ar.source) as o "
                             f"{members} order by o)", [iid]).fetchone()[0]
        copies = db.execute(
            f"select json_group_array(json_object('copy', c, 'first', f, 'outlets', json(o), 'articles', json(ids))) "
            f"from (select coalesce(s.cluster_id, a.article_id) as c, min(ar.published_at) as f, "
            f"json_group_array(distinct coalesce(s.outlet, ar.source)) as o, json_group_array(distinct a.article_id) "
            f"as ids {members} group by c order by f, c)", [iid]).fetchone()[0]
        hits = db.execute("select distinct h.correlation_id, h.level, h.corroborates from alerts a "
                          "join correlation_members m on m.alert_id = a.id join correlation_hits h on h.id = m.hit_id "
                          "where a.incident_id = ? order by h.correlation_id", [iid]).fetchall()
        severity = max([top] + [LEVELS.index(h[1]) for h in hits if h[1]])
        row = {
            "id": iid, "rule_id": rep[0], "supplier": rep[1], "recipient": rep[2], "item": rep[3], "parties": rep[4],
            "key": key, "first_seen": first, "last_seen": last, "articles": articles, "sources": sources,
            "outlets": outlets, "copies": copies, "level": LEVELS[severity], "severity": severity,
            "assertion": max(assertions, key=lambda x: ASSERTION_RANK.get(x, 0)),
            "evidence": best[0], "evidence_alert": best[1], "corroborated": int(any(h[2] for h in hits)),
            "corroborated_by": json.dumps([h[0] for h in hits]), "updated_at": now,
        }
        db.execute(f"update incidents set {', '.join(f'{c} = :{c}' for c in row if c != 'id')} where id = :id", row)
