"""kill -9 a real daemon at random moments while it reads a growing RSS feed (with pages) and a folder.

A real HTTP server on 127.0.0.1 serves the feed (newest first, with an ETag that changes as it
grows), the entries' pages (some failing for good, some failing with 503 every time) and nothing
else; a real ``monitor run`` process ingests it a few entries per cycle (``max_entries``) next to a
folder source, and is killed with SIGKILL several times. After a last undisturbed run every entry
and file is stored exactly once, everything is scanned by the final ruleset, and the alerts are the
ones a clean one-shot run over the same inputs produces.
"""

from __future__ import annotations

import random

import pytest
import shutil
import signal
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

from daemon_helpers import (
    log_of, make_project, monitor, q, rule_text, start_daemon, stop, wait_for, wait_started, write_articles,
)
from ingest_helpers import Route, page, rss
from monitor.urls import canonical_url

ROUNDS = 10
ENTRIES = 200  # feed entries at the end
FILES_PER_ROUND = 20
MAX_ENTRIES = 15  # new feed entries per cycle: the feed is consumed over many cycles
GROW_PER_FETCH = (25, 2, 2)  # the feed also grows while a daemon reads it: bursts over max_entries, then calm


def link_of(server, i: int) -> str:
    return server.url(f"/news/{i}?utm_source=rss&utm_medium=feed")


def has_link(i: int) -> bool:
    return i % 13 != 6  # a few entries carry no link: the summary is the article


def page_fails(i: int) -> int:
    """0, or the status the entry's page always answers (404 gone for good, 503 transient)."""
    return 404 if i % 9 == 4 else 503 if i % 9 == 7 else 0


def summary(i: int) -> str:
    what = f"cargo lot {i} was shipped to Zenda" if i % 3 == 0 else \
        f"cargo lot {i} was unloaded in Zenda" if i % 7 == 0 else f"prices were steady in Strelsau on day {i}"
    return f"<p>Brief {i}: {what}.</p>"


def page_body(i: int) -> bytes:
    what = f"A cargo lot numbered {i} was delivered to Zenda by rail." if i % 3 == 0 else \
        f"A cargo lot numbered {i} was unloaded in Zenda at night." if i % 7 == 0 else \
        f"Traders in Strelsau reported steady prices for the {i}th consecutive session."
    return page(f"Wire story {i}", [what, f"The harbour office published its weekly note number {i} on Friday.",
                                    f"Observers said the figures for week {i} matched earlier estimates."]).encode()


class GrowingFeed:
    """The feed route: ``target`` entries eventually, revealed ``GROW_PER_FETCH`` more per fetch (in turn)."""

    def __init__(self, server) -> None:
        self.server = server
        self.target = 0
        self.visible = 0
        self.fetches = 0
        self.lock = threading.Lock()
        self.base = datetime.now(timezone.utc) - timedelta(days=2)

    def item(self, i: int) -> dict[str, str]:
        it = {"title": f"Wire story {i}", "guid": f"wire-{i}", "description": summary(i),
              "date": format_datetime(self.base + timedelta(minutes=i))}
        if has_link(i):
            it["link"] = link_of(self.server, i)
        return it

    def __call__(self) -> Route:
        with self.lock:
            self.visible = min(self.target, self.visible + GROW_PER_FETCH[self.fetches % len(GROW_PER_FETCH)])
            self.fetches += 1
            n = self.visible
        body = rss([self.item(i) for i in reversed(range(n))])  # newest first, like a news site
        return Route(body, ctype="application/rss+xml; charset=utf-8", etag=f'"n{n}"')


def serve(server, feed: GrowingFeed) -> None:
    server.routes["/feed.xml"] = feed
    for i in range(ENTRIES):
        if has_link(i):
            status = page_fails(i)
            server.routes[f"/news/{i}?utm_source=rss&utm_medium=feed"] = (
                Route(b"gone" if status == 404 else b"busy", status, "text/plain") if status else Route(page_body(i)))


def feed_source(url: str, max_entries: int) -> str:
    return (f"  - {{name: news, kind: feed, url: '{url}', every: 0.3s, fetch_pages: true, "
            f"max_entries: {max_entries}}}\n")


def test_kill_9_while_reading_a_growing_feed_and_a_folder(tmp_path, http_server):
    t0 = time.monotonic()
    rnd = random.Random(20261123)
    feed = GrowingFeed(http_server)
    serve(http_server, feed)
    feed_url = http_server.url("/feed.xml")
    settings = "host_delay: 0\nhttp_timeout: 2\nhttp_deadline: 4\n"
    cfg = make_project(tmp_path / "live", every="0.3s",
                       extra=feed_source(feed_url, MAX_ENTRIES) + settings)
    db = cfg.parent / "monitor.db"
    arts = cfg.parent / "articles"
    kills = 0
    for rnd_no in range(ROUNDS):
        feed.target = min(ENTRIES, (rnd_no + 1) * ENTRIES // (ROUNDS - 2))  # all of it two rounds before the end
        write_articles(arts, rnd_no * FILES_PER_ROUND, (rnd_no + 1) * FILES_PER_ROUND)
        if rnd_no == ROUNDS // 2:  # a wider rule: the new ruleset version rescans what was scanned before
            (cfg.parent / "rules" / "zenda.yaml").write_text(rule_text("shipped, delivered, unloaded"))
        proc = start_daemon(cfg)
        last_run = q(db, "select coalesce(max(id), 0) n from runs")[0]["n"] if db.exists() else 0
        if rnd_no % 4 == 3:
            time.sleep(rnd.uniform(0.2, 0.9))  # sometimes during startup
        elif rnd_no % 2:
            wait_started(proc, db)
            time.sleep(rnd.uniform(0.3, 2.5))  # mid-fetch, mid-page, mid-scan or between cycles
        else:  # a cycle is in flight: somewhere in its fetch, pages, writes or scan
            wait_for(lambda: q(db, "select count(*) n from runs where id > ? and status = 'running' and "
                               "kind = 'source:news'", (last_run,))[0]["n"] > 0, 30, "a feed cycle to start", proc)
            time.sleep(rnd.uniform(0.0, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        kills += 1
    feed.target = ENTRIES
    killed_runs = q(db, "select kind, count(*) n from runs where status = 'running' group by kind")
    mid_cycle = {r["kind"]: r["n"] for r in killed_runs}
    stored_before_final = q(db, "select count(*) n from articles")[0]["n"]

    # A last, undisturbed run catches up; then a clean stop.
    expected_links = {canonical_url(link_of(http_server, i)) for i in range(ENTRIES) if has_link(i)}
    linkless = {f"{feed_url}#wire-{i}" for i in range(ENTRIES) if not has_link(i)}
    total_files = ROUNDS * FILES_PER_ROUND
    total = len(expected_links) + len(linkless) + total_files
    proc = start_daemon(cfg)
    wait_started(proc, db)
    wait_for(lambda: q(db, "select count(*) n from articles where scanned_ruleset = "
                           "(select ruleset_version from daemon) and scan_error is null")[0]["n"] >= total
             and q(db, "select etag from source_state where name = 'news'")[0]["etag"] == f'"n{ENTRIES}"',
             60, "every entry and file stored and scanned by the final ruleset, the feed complete", proc)
    rc, _ = stop(proc)
    assert rc == 0, log_of(cfg)
    live_seconds = time.monotonic() - t0

    # Every feed entry and every file exactly once.
    feed_arts = q(db, "select url, origin, format from articles where source = 'news' or format like 'feed%'")
    assert len(feed_arts) == len(expected_links) + len(linkless)
    assert {a["url"] for a in feed_arts if a["url"]} == expected_links
    assert {a["origin"] for a in feed_arts if not a["url"]} == linkless
    failing = {canonical_url(link_of(http_server, i)) for i in range(ENTRIES) if has_link(i) and page_fails(i)}
    assert {a["url"] for a in feed_arts if a["format"] == "feed"} == failing | {""}  # the summary was kept
    assert {a["url"] for a in feed_arts if a["format"] == "feed-page"} == expected_links - failing
    assert q(db, "select count(*) n from articles where format not like 'feed%'")[0]["n"] == total_files
    assert q(db, "select count(distinct origin) n from articles where format not like 'feed%'")[0]["n"] \
        == total_files
    assert q(db, "select count(*) n from articles")[0]["n"] == total
    assert q(db, "select count(*) n from article_sources where source = 'news'")[0]["n"] == \
        len(expected_links) + len(linkless)

    # Everything scanned by the final ruleset.
    final = q(db, "select ruleset_version v from daemon")[0]["v"]
    assert q(db, "select count(*) n from articles where scanned_ruleset is not ? or scan_error is not null",
             (final,))[0]["n"] == 0

    # Errors: only the failing pages (each recorded, the summary kept) and the max_entries notes.
    errors = q(db, "select stage, source, item, reason from errors")
    assert not [e for e in errors if e["stage"] != "ingest"], errors
    page_errors = [e for e in errors if e["item"] != feed_url]
    assert {canonical_url(e["item"]) for e in page_errors} == failing
    assert all(e["source"] == "news" and "kept the feed summary instead" in e["reason"] for e in page_errors)
    assert all(("HTTP 404" in e["reason"] and "permanent" in e["reason"]) or
               ("HTTP 503" in e["reason"] and "transient" in e["reason"]) for e in page_errors)
    feed_notes = [e for e in errors if e["item"] == feed_url]
    assert feed_notes and all("(max_entries)" in e["reason"] for e in feed_notes)

    # The same inputs, one clean one-shot run on a fresh database (no cap: the whole feed at once).
    clean = tmp_path / "clean"
    shutil.copytree(cfg.parent / "rules", clean / "rules")
    shutil.copytree(arts, clean / "articles")
    (clean / "config.yaml").write_text(cfg.read_text().replace(f"max_entries: {MAX_ENTRIES}", "max_entries: 1000"))
    r = monitor(clean / "config.yaml", "run", "--once")
    assert r.returncode == 0, r.stderr
    clean_db = clean / "monitor.db"
    assert q(clean_db, "select count(*) n from articles")[0]["n"] == total
    live_alerts = sorted(r["id"] for r in q(db, "select id from alerts"))
    clean_alerts = sorted(r["id"] for r in q(clean_db, "select id from alerts"))
    assert live_alerts == clean_alerts
    assert len(live_alerts) > total // 3
    assert q(db, "select count(*) n from (select rule_id, article_id from alerts group by 1, 2 "
                 "having count(*) > 1)")[0]["n"] == 0
    # The widened rule: 'unloaded' alerts come from pages, summaries and files.
    assert q(db, "select count(*) n from alerts where evidence like '%unloaded%'")[0]["n"] == \
        q(clean_db, "select count(*) n from alerts where evidence like '%unloaded%'")[0]["n"] > 0

    assert q(db, "select count(*) n from alerts where incident_id is null")[0]["n"] == 0  # all grouped
    repeated = len(page_errors) - len({e["item"] for e in page_errors})  # a page failing again after a kill

    # What an operator sees afterwards.
    out = monitor(cfg, "sources")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    i = lines.index(f"news (feed) {feed_url}")
    assert lines[i + 1].startswith(f"  status: ok; articles carried: {len(expected_links) + len(linkless)} ")
    # The counters move with each write: exact after any number of kills.
    assert f"added {len(expected_links) + len(linkless)}," in lines[i + 1]
    assert lines[i + 1].endswith(f"errors {len([e for e in errors if e['source'] == 'news']):,})")
    assert lines[i + 2] != "  last success: -"
    j = lines.index(f"wire (folder) {arts}")
    assert lines[j + 1].startswith(f"  status: ok; articles carried: {total_files} (added {total_files},")
    st = monitor(cfg, "status", "--errors", "3")
    assert st.returncode == 0, st.stdout + st.stderr
    assert st.stdout.startswith("daemon: stopped; pid ")
    assert f"ruleset: {final} " in st.stdout
    table = st.stdout.split("\njobs:\n")[1].split("\n\n")[0].splitlines()
    assert table[0].split()[:3] == ["job", "schedule", "last_run"]
    jobs = {ln.split()[0]: ln.split() for ln in table[1:]}
    assert set(jobs) == {"source:news", "source:wire"}  # the last start already had the final rules
    assert all(cols[-1] == "0" for cols in jobs.values())  # no job run failed
    assert "every 0.3 s" in table[1] and ("stopped" in table[2] or " ok " in table[2])
    assert "\nrecent cycles:\n" in st.stdout and "\nrecent errors:\n" in st.stdout

    cycles = q(db, "select count(*) n from runs where kind like 'source:%'")[0]["n"]
    feed_cycles = q(db, "select count(*) n from runs where kind = 'source:news'")[0]["n"]
    fetches = http_server.hits_for("/feed.xml")
    conditional = sum(1 for p, h in http_server.hits if p == "/feed.xml" and "if-none-match" in h)
    print(f"\nfeed crash test: {kills} kill -9 ({sum(mid_cycle.values())} mid-cycle: "
          f"{mid_cycle.get('source:news', 0)} in a feed cycle, {mid_cycle.get('source:wire', 0)} in a folder "
          f"cycle, {mid_cycle.get('rescan', 0)} in a rescan), {cycles} cycles started ({feed_cycles} of the feed, "
          f"{fetches} feed fetches, {conditional} conditional); {len(expected_links) + len(linkless)} "
          f"entries ({len(failing)} failing pages, {repeated} failed again after a kill, {len(linkless)} "
          f"without a link), {total_files} files; "
          f"{stored_before_final} of {total} stored before the last run; {len(live_alerts)} alerts; "
          f"live part {live_seconds:.1f} s, whole test {time.monotonic() - t0:.1f} s")
    assert kills == ROUNDS and sum(mid_cycle.values()) >= 2


# ------------------------------------------------------------------ focused tests of what the crash test found

def _ingest(cfg, store_wrapper=None):
    from monitor.config import load_config
    from monitor.sources import ingest_source
    from monitor.store import Store
    config = load_config(cfg)
    with Store.open(config.database) as store:
        return ingest_source(config, store_wrapper(store) if store_wrapper else store, config.sources[0])


def _feed_project(tmp_path, url: str, max_entries: int):
    cfg = tmp_path / "config.yaml"
    (tmp_path / "rules").mkdir()
    cfg.write_text("database: monitor.db\nrules: [rules]\nhost_delay: 0\nsources:\n" + feed_source(url, max_entries))
    return cfg


def test_entries_without_link_are_known_by_content_and_do_not_starve_the_cap(tmp_path, http_server):
    """30 linkless entries and a cap of 10: before, they were 'new' on every cycle, used up the cap for
    good (the linked entry behind them was never read) and the feed never completed (no ETag, a
    max_entries error every cycle)."""
    items = [{"title": f"Brief {i}", "guid": f"b{i}", "description": f"Brief number {i} from the wire."}
             for i in range(30)]
    items.append({"title": "Linked", "guid": "l", "link": http_server.url("/l"), "description": "Linked one."})
    http_server.routes["/feed.xml"] = Route(rss(items), ctype="application/rss+xml", etag='"f"')
    http_server.routes["/l"] = Route(page("Linked story", ["The linked story has a page of its own, with text.",
                                                           "A second paragraph makes it an article."]).encode())
    cfg = _feed_project(tmp_path, http_server.url("/feed.xml"), 10)
    db = tmp_path / "monitor.db"
    added = [_ingest(cfg).added for _ in range(4)]
    assert added == [10, 10, 10, 1]
    assert q(db, "select count(*) n from articles")[0]["n"] == 31
    assert q(db, "select etag from source_state")[0]["etag"] == '"f"'  # complete: validators kept
    assert len(q(db, "select 1 from errors where reason like '%max_entries%'")) == 3
    r = _ingest(cfg)  # 304: nothing read
    assert (r.added, r.duplicates, r.errors) == (0, 0, 0)
    assert http_server.hits[-1][1].get("if-none-match") == '"f"'
    assert q(db, "select count(*) n from article_sources where origin like '%/feed.xml#b%'")[0]["n"] == 30


def test_source_counters_survive_a_cycle_stopped_between_writes(tmp_path, http_server):
    """The daemon's stop guard ends a feed cycle after a few writes (as a kill would): the counters in
    source_state moved with each write, so they match what was stored; the ETag is not kept."""
    import itertools
    import threading

    from monitor.daemon import Stopping, _StoppableStore

    class StopAfter(threading.Event):
        def __init__(self, n: int) -> None:
            super().__init__()
            self.calls = itertools.count()
            self.n = n

        def is_set(self) -> bool:
            return next(self.calls) >= self.n

    feed = GrowingFeed(http_server)
    feed.target = feed.visible = 20
    serve(http_server, feed)
    cfg = _feed_project(tmp_path, http_server.url("/feed.xml"), 100)
    db = tmp_path / "monitor.db"

    def counters_match() -> dict:
        st = q(db, "select articles_added, errors, etag from source_state where name = 'news'")[0]
        assert st["articles_added"] == q(db, "select count(*) n from articles")[0]["n"]
        assert st["errors"] == q(db, "select count(*) n from errors where source = 'news'")[0]["n"]
        return st

    with pytest.raises(Stopping):
        _ingest(cfg, lambda store: _StoppableStore(store, StopAfter(12)))  # type: ignore[arg-type]
    st = counters_match()
    assert 0 < st["articles_added"] < 20 and st["errors"] >= 1 and st["etag"] is None
    before = st["articles_added"]
    r = _ingest(cfg)
    st = counters_match()
    assert st["articles_added"] == 20 and st["etag"] == '"n20"' and r.added == 20 - before
    assert q(db, "select count(distinct coalesce(nullif(url, ''), origin)) n from articles")[0]["n"] == 20


def test_a_page_failing_for_now_without_summary_is_retried_though_the_feed_is_unchanged(tmp_path, http_server):
    """An entry with no summary whose page answers 503 is not stored; before, the feed's ETag was saved
    anyway, so the unchanged feed answered 304 and the entry was never read again."""
    http_server.routes["/feed.xml"] = Route(rss([{"title": "Bare", "guid": "bare", "link": http_server.url("/bare")}]),
                                            ctype="application/rss+xml", etag='"same"')
    http_server.routes["/bare"] = Route(b"busy", 503, "text/plain")
    cfg = _feed_project(tmp_path, http_server.url("/feed.xml"), 10)
    db = tmp_path / "monitor.db"
    r = _ingest(cfg)
    assert (r.added, r.errors) == (0, 1)
    assert q(db, "select etag from source_state")[0]["etag"] is None
    assert "transient fetch failure: HTTP 503" in q(db, "select reason from errors")[0]["reason"]
    http_server.routes["/bare"] = Route(page("Bare entry", ["The page is back with the full text of the story.",
                                                            "A second paragraph follows the first."]).encode())
    r = _ingest(cfg)
    assert r.added == 1 and q(db, "select format from articles")[0]["format"] == "feed-page"
    assert q(db, "select etag from source_state")[0]["etag"] == '"same"'
    assert "if-none-match" not in http_server.hits[-2][1]  # the feed was read in full again


def test_every_store_write_of_ingest_goes_through_the_stop_guard():
    """The daemon stops ingestion by refusing writes (``_GUARDED_WRITES``): a Store method that ingest
    calls is either guarded or one of the reads listed here (a new write must be added to the guard)."""
    import inspect
    import re

    import monitor.scan
    import monitor.sources
    from monitor.daemon import _GUARDED_WRITES
    from monitor.store import Store

    reads = {"source_state", "file_states", "article_for_url", "article_for_hash", "query", "count"}
    called = set(re.findall(r"\bstore\.(\w+)\(", inspect.getsource(monitor.sources)))
    called |= set(re.findall(r"\bstore\.(\w+)\(", inspect.getsource(monitor.scan.ingest_paths)))
    assert called and called <= set(dir(Store))
    assert called - reads <= _GUARDED_WRITES, called - reads - _GUARDED_WRITES
