"""Incidents end to end: real article files, the real scan, real SQLite files."""

from __future__ import annotations

import json
import random
import sys
import subprocess
from pathlib import Path

from incidents_helpers import (
    INDEPENDENT, LOW_TEXT, LOW_TITLE, OTHER_PAIR, REPRINTS, RULE, WIRE, WIRE_TITLE, article, execute,
    grouping, incidents_of, ingest_and_scan, rows, write_articles,
)
from monitor import neardup
from test_seeds import sqlite_utils_cli

DAY1 = "2025-06-03T09:00:00Z"


def wire_and_reprints(day: str = DAY1) -> list[dict]:
    items = [article("https://wire.example/nk-syria", WIRE_TITLE, WIRE, day)]
    items += [article(u, t, x, day.replace("09:", f"1{i}:")) for i, (u, t, x) in enumerate(REPRINTS)]
    return items


def test_seeds_in_any_order_form_one_incident_with_five_sources(tmp_path: Path, seeds: Path):
    files = sorted(seeds.glob("*.txt"))
    assert len(files) == 5
    results = []
    for n, order in enumerate((files, files[::-1], [files[i] for i in (2, 4, 0, 3, 1)])):
        db = tmp_path / f"seeds{n}.db"
        for f in order:  # one article per scan: the incident grows article by article
            ingest_and_scan(db, [f])
        incs = incidents_of(db)
        assert len(incs) == 1, incs
        inc = incs[0]
        assert (inc["articles"], inc["sources"], inc["level"]) == (5, 5, "critical"), inc
        assert inc["corroborated"] == 1
        linked = rows(db, "select count(*) as n from alerts where rule_id = ? and incident_id = ?", (RULE, inc["id"]))
        assert linked[0]["n"] == 5
        assert rows(db, "select count(*) as n from errors")[0]["n"] == 0
        results.append({k: v for k, v in inc.items() if k not in ("id", "created_at", "updated_at", "first_seen",
                                                                   "last_seen", "copies", "evidence",
                                                                   "evidence_alert")})
    assert results[0] == results[1] == results[2]


def test_reprints_of_one_story_count_as_one_source(tmp_path: Path):
    db = tmp_path / "m.db"
    items = wire_and_reprints() + [article(*INDEPENDENT[0], "2025-06-04T08:00:00Z")]
    ingest_and_scan(db, write_articles(tmp_path / "in", items))
    [inc] = incidents_of(db)
    assert inc["articles"] == 5
    assert inc["sources"] == 2  # the wire story (four copies) and one independent report
    copies = json.loads(inc["copies"])
    assert sorted(len(c["articles"]) for c in copies) == [1, 4]
    wire = next(c for c in copies if len(c["articles"]) == 4)
    assert sorted(wire["outlets"]) == ["dailyharbour.example", "globe-wire.example", "news.example.org", "wire.example"]
    clusters = rows(db, "select cluster_id, count(*) as n from article_signatures group by cluster_id order by n")
    assert [c["n"] for c in clusters] == [1, 4]
    # three copies of one story are not three sources: the correlation (threshold 3) has not fired
    assert rows(db, "select count(*) as n from correlation_hits")[0]["n"] == 0
    assert inc["corroborated"] == 0 and inc["level"] == "high"


def test_near_duplicate_similarity_separates_copies_from_independent_reports():
    wire, _ = neardup.signature(WIRE)
    for _, _, text in REPRINTS:
        assert neardup.similarity(wire, neardup.signature(text)[0]) >= neardup.THRESHOLD
    for _, _, text in INDEPENDENT:
        assert neardup.similarity(wire, neardup.signature(text)[0]) < 0.2
    assert neardup.outlet_of("https://www.Example.com/x", "feed") == "example.com"
    assert neardup.outlet_of("", "feed") == "feed"


def test_different_stories_stay_apart(tmp_path: Path):
    db = tmp_path / "m.db"
    items = [article(*INDEPENDENT[0], DAY1), article(*INDEPENDENT[1], "2025-06-05T10:00:00Z"),
             article(*OTHER_PAIR, "2025-06-04T10:00:00Z"),  # another pair of states, same days
             article(*INDEPENDENT[2], "2025-10-20T10:00:00Z")]  # the same pair months later
    ingest_and_scan(db, write_articles(tmp_path / "in", items))
    incs = incidents_of(db)
    assert len(incs) == 3, incs
    by_first = {i["first_seen"]: i for i in incs}
    assert by_first[DAY1]["articles"] == 2 and by_first[DAY1]["last_seen"] == "2025-06-05T10:00:00Z"
    assert by_first[DAY1]["parties"] == '["PRK", "SYR"]'
    assert by_first["2025-06-04T10:00:00Z"]["parties"] == '["HOUTHIS", "IRN"]'
    assert by_first["2025-10-20T10:00:00Z"]["articles"] == 1
    assert by_first["2025-10-20T10:00:00Z"]["parties"] == '["PRK", "SYR"]'


def test_out_of_order_ingestion_gives_the_same_incidents(tmp_path: Path):
    items = wire_and_reprints() + [article(*x, f"2025-06-0{4 + i}T08:00:00Z") for i, x in enumerate(INDEPENDENT)]
    # A follow-up months later under its own URL (one URL is stored once, whichever copy comes first).
    items += [article(*OTHER_PAIR, "2025-06-04T10:00:00Z"),
              article(INDEPENDENT[0][0] + "-follow-up", INDEPENDENT[0][1], INDEPENDENT[0][2] + "\nUpdate.",
                      "2025-11-02T10:00:00Z")]
    results = []
    for n, seed in enumerate((None, 1, 2)):
        order = list(items)
        if seed is not None:
            random.Random(seed).shuffle(order)
        db = tmp_path / f"o{n}.db"
        for i, item in enumerate(order):  # one article per scan, in this order
            ingest_and_scan(db, write_articles(tmp_path / f"in{n}", [item], start=i)[-1:])
        results.append(grouping(db))
    assert results[0] == results[1] == results[2]
    assert len(results[0]) == 3
    assert max(g[4] for g in results[0]) == 5  # the wire cluster + four independent reports


def test_correlation_fires_once_at_the_threshold_and_survives_a_restart(tmp_path: Path, repo: Path):
    db = tmp_path / "m.db"
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"database: {db}\nrules: [{repo / 'rules'}]\n", encoding="utf-8")
    monitor = [str(Path(sys.executable).parent / "monitor"), "--config", str(cfg)]
    stories = [article(*x, f"2025-06-0{3 + i}T08:00:00Z") for i, x in enumerate(INDEPENDENT)]
    paths = write_articles(tmp_path / "in", stories + wire_and_reprints("2025-06-05T09:00:00Z"))

    def step(*files: Path) -> None:  # a new process each time: nothing is kept in memory between steps
        for cmd in (["ingest", *map(str, files)], ["scan"]):
            proc = subprocess.run(monitor + cmd, capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0, proc.stderr

    def hits() -> list[dict]:
        return rows(db, "select * from correlation_hits")

    step(paths[0])
    step(paths[1])
    assert hits() == []
    [inc] = incidents_of(db)
    assert (inc["sources"], inc["level"], inc["corroborated"]) == (2, "high", 0)
    step(paths[2])  # third independent source within 7 days: fires
    [hit] = hits()
    assert (hit["correlation_id"], hit["sources"], hit["level"]) == ("arms_transfer_corroborated", 3, "critical")
    [inc] = incidents_of(db)
    assert (inc["sources"], inc["level"], inc["corroborated"]) == (3, "critical", 1)
    assert inc["corroborated_by"] == '["arms_transfer_corroborated"]'
    step(paths[3])  # the next article (new process): joins, does not fire again
    step(*paths[4:])  # and the wire story with its reprints: one more source
    [hit2] = hits()
    assert hit2["id"] == hit["id"] and hit2["fired_at"] == hit["fired_at"]
    assert hit2["sources"] == 5
    assert rows(db, "select count(*) as n from correlation_members")[0]["n"] == 8
    [inc] = incidents_of(db)
    assert (inc["articles"], inc["sources"], inc["level"]) == (8, 5, "critical")


def test_dismissed_alerts_do_not_corroborate(tmp_path: Path):
    db = tmp_path / "m.db"
    stories = [article(*x, f"2025-06-0{3 + i}T08:00:00Z") for i, x in enumerate(INDEPENDENT)]
    paths = write_articles(tmp_path / "in", stories)
    ingest_and_scan(db, paths[:2])
    execute(db, "update alerts set status = 'dismissed' where id = (select id from alerts where rule_id = ? "
                "order by id limit 1)", (RULE,))
    ingest_and_scan(db, paths[2:3])
    assert rows(db, "select count(*) as n from correlation_hits")[0]["n"] == 0
    ingest_and_scan(db, paths[3:4])
    [hit] = rows(db, "select * from correlation_hits")
    assert hit["sources"] == 3


def test_incident_triage_applies_to_alerts_and_dismissed_incidents_stay_quiet(tmp_path: Path):
    db = tmp_path / "m.db"
    exe = sqlite_utils_cli()
    low = [article("https://think.example/1", LOW_TITLE, LOW_TEXT, DAY1),
           article("https://think.example/2", LOW_TITLE + " (update)",
                   LOW_TEXT.replace("Friday", "Saturday") + "\nA second institute agreed.", "2025-06-04T08:00:00Z")]
    paths = write_articles(tmp_path / "in", low + [article(*INDEPENDENT[0], "2025-06-05T08:00:00Z")])
    ingest_and_scan(db, paths[:1])
    [inc] = incidents_of(db)
    assert inc["level"] == "low"
    proc = subprocess.run([exe, "query", str(db), "update incidents set status = 'dismissed', note = 'speculation' "
                           "where id = :id", "-p", "id", inc["id"]], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert rows(db, "select status, note from alerts where incident_id = ?", (inc["id"],)) == [
        {"status": "dismissed", "note": "speculation"}]
    ingest_and_scan(db, paths[1:2])  # same level joins: no new alert for the analyst
    [inc] = incidents_of(db)
    assert inc["articles"] == 2 and inc["status"] == "dismissed"
    assert [r["status"] for r in rows(db, "select status from alerts where incident_id = ?", (inc["id"],))] == [
        "dismissed", "dismissed"]
    ingest_and_scan(db, paths[2:3])  # a report at a higher level reopens the incident
    [inc] = incidents_of(db)
    assert inc["status"] == "new" and inc["level"] == "high" and "reopened" in inc["note"]
    new = rows(db, "select a.status from alerts a join articles ar on ar.id = a.article_id where ar.url = ? "
                   "and a.rule_id = ?", (INDEPENDENT[0][0], RULE))
    assert new == [{"status": "new"}]
    proc = subprocess.run([exe, "query", str(db), "update incidents set status = 'confirmed', note = 'ok' where id = :id",
                           "-p", "id", inc["id"]], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert {r["status"] for r in rows(db, "select status from alerts where incident_id = ?", (inc["id"],))} == {"confirmed"}


def test_grouping_catches_up_after_a_crash_between_scan_and_grouping(tmp_path: Path):
    db = tmp_path / "m.db"
    ingest_and_scan(db, write_articles(tmp_path / "in", wire_and_reprints()))
    before = grouping(db)
    # what a kill -9 right after save_scan leaves behind: alerts saved, not grouped
    execute(db, "update alerts set incident_id = null, incident_key = null")
    execute(db, "delete from incidents")
    ingest_and_scan(db, write_articles(tmp_path / "in2", [article(*OTHER_PAIR, DAY1)]))
    after = grouping(db)
    assert before < after and len(after) == len(before) + 1  # the same incidents, plus the new story's
    assert rows(db, "select count(*) as n from alerts where incident_id is null")[0]["n"] == 0


def test_readme_incident_recipes_run_on_the_seeds(tmp_path: Path, seeds: Path, repo: Path):
    import re
    import shlex
    readme = (repo / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Incidents\n(.*?)(?=^## )", readme, re.S | re.M).group(1)
    recipes = [l for b in re.findall(r"^```sh\n(.*?)^```", section, re.S | re.M) for l in b.splitlines()
               if l.startswith("sqlite-utils ")]
    assert recipes[0].startswith("sqlite-utils rows monitor.db incidents_review")
    db = tmp_path / "seeds.db"
    ingest_and_scan(db, sorted(seeds.glob("*.txt")))
    [inc] = incidents_of(db)
    exe = sqlite_utils_cli()
    for recipe in recipes:
        argv = [exe] + [str(db) if a == "monitor.db" else inc["id"] if a == "INCIDENT_ID" else a
                        for a in shlex.split(recipe)[1:]]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"{recipe}\n{proc.stderr}"
        if "update incidents" not in recipe:
            assert proc.stdout.strip() and proc.stdout.strip() != "[]", recipe
        m = re.search(r"update incidents set status = '(\w+)', note = '([^']*)'", recipe)
        if m:
            got = rows(db, "select distinct status, note from alerts where incident_id = ?", (inc["id"],))
            assert got == [{"status": m.group(1), "note": m.group(2)}], (recipe, got)


def test_incident_window_is_configurable(tmp_path: Path):
    items = [article(*INDEPENDENT[0], DAY1), article(*INDEPENDENT[1], "2025-06-06T10:00:00Z")]
    for window, expected in ((1, 2), (5, 1)):
        db = tmp_path / f"w{window}.db"
        ingest_and_scan(db, write_articles(tmp_path / f"in{window}", items), window_days=window)
        assert len(incidents_of(db)) == expected


def test_an_article_bridging_two_copy_clusters_merges_them_whatever_the_order(tmp_path: Path):
    from monitor.store import Store
    words = [f"w{i}" for i in range(100)]
    texts = {"a": " ".join(words[:70] + [f"a{i}" for i in range(10)]),
             "b": " ".join(words[30:] + [f"b{i}" for i in range(10)]),
             "w": " ".join(words)}
    sig = {k: neardup.signature(t)[0] for k, t in texts.items()}
    assert neardup.similarity(sig["a"], sig["b"]) < neardup.THRESHOLD  # a and b alone are different stories
    assert min(neardup.similarity(sig["w"], sig[k]) for k in "ab") >= neardup.THRESHOLD
    for n, order in enumerate(("abw", "wab", "bwa")):
        with Store.open(tmp_path / f"c{n}.db") as store:
            for k in order:
                store.add_article({"id": k, "source": "t", "url": "", "title": k, "published_at": DAY1,
                                   "published_at_source": "article", "ingested_at": DAY1, "text": texts[k],
                                   "content_hash": k, "origin": k, "format": "txt", "chars": 1, "repairs": []})
                with store.transaction() as db:
                    cluster, merged = neardup.assign_cluster(db, k, texts[k], "t", DAY1)
                if order == "abw" and k == "w":
                    assert (cluster, merged) == ("a", ["b"])
            got = {r["article_id"]: r["cluster_id"] for r in store.query("select * from article_signatures")}
        assert got == {"a": "a", "b": "a", "w": "a"}, (order, got)


def test_incidents_rebuild_regroups_with_a_new_window_and_keeps_triage(tmp_path: Path, repo: Path, runner):
    from conftest import invoke
    db = tmp_path / "m.db"
    items = [article(*INDEPENDENT[0], DAY1), article(*INDEPENDENT[1], "2025-06-06T10:00:00Z")]
    ingest_and_scan(db, write_articles(tmp_path / "in", items))
    [inc] = incidents_of(db)
    execute(db, "update incidents set status = 'confirmed', note = 'seen' where id = ?", (inc["id"],))
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"database: {db}\nrules: [{repo / 'rules'}]\nincident_window_days: 1\n", encoding="utf-8")
    r = invoke(runner, "--config", str(cfg), "incidents", "rebuild")
    assert r.exit_code == 0 and "into" in r.output, r.output
    incs = incidents_of(db)
    assert len(incs) == 2
    assert [(i["id"], i["status"], i["note"]) for i in incs][0] == (inc["id"], "confirmed", "seen")
    assert incs[1]["status"] == "new" and incs[1]["articles"] == 1


def test_kill_9_during_a_scan_loses_no_grouping(tmp_path: Path, repo: Path):
    import time
    stories = INDEPENDENT + REPRINTS + [OTHER_PAIR]
    items = [article(u + f"?n={i}", t, x + f"\nFile reference {i}.", f"2025-0{6 + i % 3}-{10 + i % 17}T08:00:00Z")
             for i in range(60) for u, t, x in [stories[i % len(stories)]]]
    paths = write_articles(tmp_path / "in", items)
    clean = tmp_path / "clean.db"
    ingest_and_scan(clean, paths)
    db = tmp_path / "killed.db"
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"database: {db}\nrules: [{repo / 'rules'}]\nscan_batch: 5\n", encoding="utf-8")
    monitor = [str(Path(sys.executable).parent / "monitor"), "--config", str(cfg)]
    assert subprocess.run(monitor + ["ingest", str(tmp_path / "in")], capture_output=True, timeout=120).returncode == 0
    proc = subprocess.Popen(monitor + ["scan"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if rows(db, "select count(*) as n from articles where scanned_at is not null")[0]["n"] >= 8:
                    break
            except Exception:  # the scanner holds the write lock for a moment
                pass
            time.sleep(0.01)
    finally:
        proc.kill()  # SIGKILL: no cleanup of any kind
        proc.wait()
    scanned = rows(db, "select count(*) as n from articles where scanned_at is not null")[0]["n"]
    assert 0 < scanned < 60, scanned  # killed in the middle of the scan
    done = subprocess.run(monitor + ["scan"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert rows(db, "select count(*) as n from alerts where incident_id is null")[0]["n"] == 0
    assert grouping(db) == grouping(clean)
    for sql in ("select correlation_id, group_key, sources from correlation_hits order by 1, 2",
                "select count(*) as n, count(distinct cluster_id) as c from article_signatures"):
        assert rows(db, sql) == rows(clean, sql)
