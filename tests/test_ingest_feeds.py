"""Feed and page sources against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import invoke
from ingest_helpers import Route, atom, page, rss
from monitor.config import load_config
from monitor.sources import ingest_source
from monitor.store import Store

BODY = ["The customs service said the cargo of artillery shells was unloaded at the northern port on Monday.",
        "Officials added that the shipment had been declared as agricultural machinery on its manifest.",
        "An independent panel of experts is expected to examine the documents later this month."]



def write_config(tmp: Path, repo: Path, sources: str, extra: str = "") -> Path:
    cfg = tmp / "config.yaml"
    cfg.write_text(f"database: monitor.db\nrules:\n  - {repo / 'rules'}\nhost_delay: 0\nhttp_timeout: 1\n"
                   f"http_deadline: 2\n{extra}sources:\n{sources}", encoding="utf-8")
    return cfg


def feed_source(url: str, name: str = "wire", extra: str = "") -> str:
    return f"  - name: {name}\n    kind: feed\n    url: {url}\n{extra}"


def run_source(cfg: Path, name: str):
    config = load_config(cfg)
    src = next(s for s in config.sources if s.name == name)
    with Store.open(config.database) as store:
        return ingest_source(config, store, src), config.database


def rows(db: Path, sql: str, params: tuple = ()) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def items(n: int, server, start: int = 0) -> list[dict[str, str]]:
    return [{"title": f"Story {i}", "link": server.url(f"/story/{i}?utm_source=rss&utm_medium=feed"),
             "guid": f"story-{i}", "date": "Tue, 04 Mar 2025 09:30:00 +0100",
             "description": f"<p>Summary of story {i}: the vessel number {i} was inspected.</p>"}
            for i in range(start, start + n)]


def test_feed_summaries_conditional_get_and_canonical_urls(tmp_path, repo, http_server):
    http_server.routes["/feed.xml"] = Route(rss(items(3, http_server)), ctype="application/rss+xml",
                                            etag='"v1"')
    cfg = write_config(tmp_path, repo, feed_source(http_server.url("/feed.xml")))
    report, db = run_source(cfg, "wire")
    assert (report.added, report.errors) == (3, 0)
    arts = rows(db, "select url, title, text, published_at, published_at_source, format from articles order by url")
    assert arts[0]["url"] == http_server.url("/story/0")  # tracking parameters dropped
    assert arts[0]["published_at"] == "2025-03-04T08:30:00Z" and arts[0]["published_at_source"] == "article"
    assert arts[0]["text"] == "Summary of story 0: the vessel number 0 was inspected."
    carried = rows(db, "select source, url from article_sources order by url")
    assert carried[0] == {"source": "wire", "url": http_server.url("/story/0?utm_source=rss&utm_medium=feed")}
    # second cycle: the server answers 304 to the stored ETag; nothing is added
    report, _ = run_source(cfg, "wire")
    assert (report.added, report.duplicates, report.errors) == (0, 0, 0)
    assert http_server.hits[-1][1].get("if-none-match") == '"v1"'
    assert "user-agent" in http_server.hits[-1][1] and http_server.hits[-1][1]["user-agent"].startswith("monitor/")
    state = rows(db, "select etag, last_success_at, failures from source_state where name = 'wire'")[0]
    assert state["etag"] == '"v1"' and state["last_success_at"] and state["failures"] == 0


def test_feed_fetches_pages_keeps_summary_when_page_fails(tmp_path, repo, http_server):
    entries = items(2, http_server)
    http_server.routes["/atom.xml"] = Route(atom([
        {"title": e["title"], "link": e["link"], "id": e["guid"], "date": "2025-03-04T08:30:00Z",
         "summary": e["description"]} for e in entries]), ctype="application/atom+xml")
    http_server.routes["/story/0?utm_source=rss&utm_medium=feed"] = Route(
        page("Shells unloaded at northern port", BODY).encode("utf-8"))
    # /story/1 is not served: 404, so the feed summary is kept and the failure recorded
    cfg = write_config(tmp_path, repo, feed_source(http_server.url("/atom.xml"), extra="    fetch_pages: true\n"))
    report, db = run_source(cfg, "wire")
    assert report.added == 2
    full = rows(db, "select * from articles where url = ?", (http_server.url("/story/0"),))[0]
    assert "artillery shells was unloaded" in full["text"] and "independent panel" in full["text"]
    assert "cookies" not in full["text"] and "Copyright" not in full["text"] and "Related" not in full["text"]
    assert full["format"] == "feed-page" and full["published_at"] == "2025-03-04T08:30:00Z"
    kept = rows(db, "select * from articles where url = ?", (http_server.url("/story/1"),))[0]
    assert kept["text"].startswith("Summary of story 1")
    errs = rows(db, "select item, reason from errors")
    assert any("HTTP 404" in e["reason"] and "kept the feed summary" in e["reason"] for e in errs), errs


@pytest.mark.parametrize("route,expect", [
    (Route(b"boom", 500, "text/plain"), "transient fetch failure: HTTP 500"),
    (Route(b"slow down", 429, "text/plain"), "transient fetch failure: HTTP 429"),
    (Route(rss([]), delay=1.6, ctype="application/rss+xml"), "transient fetch failure: timed out"),
    (Route(b"<rss>" + b" " * 400, trickle=0.01, ctype="application/rss+xml"), "2 s deadline"),
])
def test_transient_failures_back_off(tmp_path, repo, http_server, route, expect):
    http_server.routes["/feed.xml"] = route
    cfg = write_config(tmp_path, repo, feed_source(http_server.url("/feed.xml")))
    report, db = run_source(cfg, "wire")
    assert report.failed and report.errors == 1
    err = rows(db, "select source, item, reason, at from errors")[0]
    assert err["source"] == "wire" and err["item"] == http_server.url("/feed.xml") and expect in err["reason"]
    state = rows(db, "select * from source_state")[0]
    assert state["failures"] == 1 and state["next_try_at"] > state["last_attempt_at"] and not state["gave_up_at"]
    hits = http_server.hits_for("/feed.xml")
    report, _ = run_source(cfg, "wire")  # inside the backoff window: not fetched again
    assert report.skipped and http_server.hits_for("/feed.xml") == hits


def test_backoff_grows_and_success_resets(tmp_path, repo, http_server):
    http_server.routes["/feed.xml"] = Route(b"down", 503, "text/plain")
    cfg = write_config(tmp_path, repo, feed_source(http_server.url("/feed.xml")))
    waits = []
    for _ in range(3):
        run_source(cfg, "wire")
        with Store.open(tmp_path / "monitor.db") as store:
            st = store.source_state("wire")
            waits.append((st["failures"], st["next_try_at"]))
            store.update_source_state("wire", next_try_at="2000-01-01T00:00:00Z")  # pretend the wait is over
    assert [w[0] for w in waits] == [1, 2, 3]
    assert waits[0][1] < waits[1][1] < waits[2][1]
    http_server.routes["/feed.xml"] = Route(rss(items(1, http_server)), ctype="application/rss+xml")
    report, db = run_source(cfg, "wire")
    assert report.added == 1
    assert rows(db, "select failures, next_try_at from source_state")[0] == {"failures": 0, "next_try_at": None}


@pytest.mark.parametrize("path,route,expect", [
    ("/feed.xml", None, "HTTP 404"),
    ("/feed.xml", Route(b"x" * 3000, ctype="application/rss+xml"), "over the 2,000-byte limit"),
    ("/feed.xml", Route(b"", 302, headers={"Location": "/feed.xml"}), "redirect loop"),
    ("/feed.xml", Route(b"", 302, headers={"Location": "ftp://127.0.0.1/feed.xml"}), "not an http(s) URL"),
])
def test_permanent_failures_give_up_until_retry(tmp_path, repo, http_server, path, route, expect):
    if route is not None:
        http_server.routes[path] = route
    cfg = write_config(tmp_path, repo, feed_source(http_server.url(path)), extra="max_response_bytes: 2000\n")
    report, db = run_source(cfg, "wire")
    assert report.failed
    err = rows(db, "select reason from errors")[0]["reason"]
    assert "permanent fetch failure" in err and expect in err and "monitor sources --retry wire" in err
    assert rows(db, "select gave_up_at from source_state")[0]["gave_up_at"]
    hits = len(http_server.hits)
    assert run_source(cfg, "wire")[0].skipped and len(http_server.hits) == hits  # not retried forever
    result = invoke(CliRunner(), "--config", str(cfg), "sources")
    assert "gave up (permanent failure)" in result.output and expect in result.output
    result = invoke(CliRunner(), "--config", str(cfg), "sources",
                    "--retry", "wire")
    assert result.exit_code == 0 and "fetched on the next cycle" in result.output
    run_source(cfg, "wire")
    assert len(http_server.hits) > hits


def test_redirects_followed_up_to_the_cap(tmp_path, repo, http_server):
    http_server.routes["/feed.xml"] = Route(rss(items(1, http_server)), ctype="application/rss+xml")
    for i in range(4):
        http_server.routes[f"/r{i}"] = Route(b"", 301, headers={"Location": f"/r{i + 1}" if i < 3 else "/feed.xml"})
    cfg = write_config(tmp_path, repo, feed_source(http_server.url("/r0")), extra="max_redirects: 5\n")
    assert run_source(cfg, "wire")[0].added == 1
    (tmp_path / "capped").mkdir()
    cfg = write_config(tmp_path / "capped", repo, feed_source(http_server.url("/r0"), name="capped"),
                       extra="max_redirects: 2\n")
    report, db = run_source(cfg, "capped")
    assert report.failed and "more than 2 redirects" in rows(db, "select reason from errors")[-1]["reason"]


BOMB = (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;">]>\n<rss version="2.0"><channel><title>&lol2;</title>'
        b"<item><title>&lol2;</title><description>x</description></item></channel></rss>")
XXE = (b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>\n'
       b'<rss version="2.0"><channel><title>t</title><item><title>&xxe;</title><description>&xxe;</description>'
       b"</item></channel></rss>")


@pytest.mark.parametrize("body,expect,gives_up", [
    (BOMB, "permanent unsafe XML refused", True), (XXE, "permanent unsafe XML refused", True),
    (b"<html><body><p>This is a web page, not a feed.</p></body></html>",
     "transient not a readable RSS or Atom feed", False),
])
def test_unsafe_or_unreadable_feeds_are_refused(tmp_path, repo, http_server, body, expect, gives_up):
    http_server.routes["/feed.xml"] = Route(body, ctype="application/rss+xml")
    cfg = write_config(tmp_path, repo, feed_source(http_server.url("/feed.xml")))
    report, db = run_source(cfg, "wire")
    assert report.added == 0 and report.errors == 1
    assert expect in rows(db, "select reason from errors")[0]["reason"]
    assert rows(db, "select count(*) as n from articles")[0]["n"] == 0
    state = rows(db, "select gave_up_at, next_try_at from source_state")[0]
    assert bool(state["gave_up_at"]) is gives_up and bool(state["next_try_at"]) is not gives_up


def test_malformed_feed_salvages_entries_and_records_error(tmp_path, repo, http_server):
    broken = rss(items(2, http_server)).replace(b"</channel>", b"<unclosed></channel>")
    http_server.routes["/feed.xml"] = Route(broken, ctype="application/rss+xml")
    cfg = write_config(tmp_path, repo, feed_source(http_server.url("/feed.xml")))
    report, db = run_source(cfg, "wire")
    assert report.added == 2
    assert "malformed feed XML" in rows(db, "select reason from errors")[0]["reason"]


def test_feed_with_thousands_of_entries_is_capped_per_cycle(tmp_path, repo, http_server):
    http_server.routes["/big.xml"] = Route(rss(items(3000, http_server)), ctype="application/rss+xml", etag='"b"')
    cfg = write_config(tmp_path, repo, feed_source(http_server.url("/big.xml"), extra="    max_entries: 40\n"))
    report, db = run_source(cfg, "wire")
    assert report.added == 40
    assert "3,000 entries; 40 new ones" in rows(db, "select reason from errors")[0]["reason"]
    assert rows(db, "select etag from source_state")[0]["etag"] is None  # refetched next cycle
    report, _ = run_source(cfg, "wire")
    assert report.added == 40 and report.duplicates == 40
    assert rows(db, "select count(*) as n from articles")[0]["n"] == 80


def test_page_charsets_declared_wrong_or_missing(tmp_path, repo, http_server):
    text = ["Le ministère a confirmé que la cargaison de munitions était arrivée à Tobrouk jeudi.",
            "Les inspecteurs de l’ONU n’ont pas été autorisés à accéder au navire, selon la déclaration."]
    # header says utf-8 but the bytes are cp1252; then a page declaring nothing at all
    http_server.routes["/a"] = Route(page("Munitions à Tobrouk", text, charset_meta="utf-8").encode("cp1252"),
                                     ctype="text/html; charset=utf-8")
    http_server.routes["/b"] = Route(page("Munitions à Tobrouk II", text[::-1], charset_meta="x").encode("cp1252"),
                                     ctype="text/html")
    cfg = write_config(tmp_path, repo, feed_source(http_server.url("/feed.xml")))
    runner = CliRunner()
    result = invoke(runner, "--config", str(cfg), "ingest", http_server.url("/a"), http_server.url("/b"))
    assert result.exit_code == 0 and "ingested 2 new article(s)" in result.output, result.output
    arts = rows(tmp_path / "monitor.db", "select title, text, source from articles order by title")
    assert arts[0]["title"] == "Munitions à Tobrouk" and "ministère a confirmé" in arts[0]["text"]
    assert "l’ONU n’ont pas été" in arts[1]["text"] and arts[0]["source"] == "cli"


def test_ingest_url_errors_are_clear(tmp_path, repo, http_server):
    http_server.routes["/bin"] = Route(b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", ctype="image/png")
    cfg = write_config(tmp_path, repo, feed_source(http_server.url("/feed.xml")))
    runner = CliRunner()
    result = invoke(runner, "--config", str(cfg), "ingest", http_server.url("/bin"), http_server.url("/gone"),
                    "ftp://127.0.0.1/x")
    assert result.exit_code == 0 and "3 error(s)" in result.output
    reasons = [r["reason"] for r in rows(tmp_path / "monitor.db", "select reason from errors order by id")]
    assert "not a web page (Content-Type image/png)" in reasons[0]
    assert "HTTP 404" in reasons[1] and "not an http(s) URL" in reasons[2]


def test_page_canonical_url_author_and_no_refetch(tmp_path, repo, http_server):
    canonical = "https://news.example.invalid/2025/03/shells-unloaded"
    http_server.routes["/feed.xml"] = Route(rss([{"title": "Shells", "link": http_server.url("/p?ref=rss"),
                                                  "guid": "p", "description": "Short summary."}]),
                                            ctype="application/rss+xml")
    html = page("Shells unloaded at northern port", BODY, canonical=canonical).replace(
        "</head>", '<meta name="author" content="Dana Reporter"></head>')
    http_server.routes["/p?ref=rss"] = Route(html.encode("utf-8"))
    cfg = write_config(tmp_path, repo, feed_source(http_server.url("/feed.xml"), extra="    fetch_pages: true\n"))
    report, db = run_source(cfg, "wire")
    art = rows(db, "select url, author, title from articles")[0]
    assert art == {"url": canonical, "author": "Dana Reporter", "title": "Shells unloaded at northern port"}
    report, _ = run_source(cfg, "wire")  # the feed changed nothing: the page is not fetched again
    assert http_server.hits_for("/p?ref=rss") == 1 and report.duplicates == 1


def test_politeness_delay_between_requests_to_one_host(tmp_path, repo, http_server):
    http_server.routes["/feed.xml"] = Route(rss(items(3, http_server)), ctype="application/rss+xml")
    for i in range(3):
        http_server.routes[f"/story/{i}?utm_source=rss&utm_medium=feed"] = Route(
            page(f"Story {i} page", BODY).encode("utf-8"))
    cfg = write_config(tmp_path, repo, feed_source(http_server.url("/feed.xml"), extra="    fetch_pages: true\n"),
                       extra="host_delay: 0.3\n").read_text(encoding="utf-8").replace("host_delay: 0\n", "")
    (tmp_path / "config.yaml").write_text(cfg, encoding="utf-8")
    stamps: list[float] = []
    original = http_server.httpd.RequestHandlerClass.do_GET

    def stamped(handler):
        stamps.append(__import__("time").monotonic())
        original(handler)
    http_server.httpd.RequestHandlerClass.do_GET = stamped
    report, _ = run_source(tmp_path / "config.yaml", "wire")
    assert report.added == 3 and len(stamps) == 4
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert min(gaps) >= 0.25, gaps


def test_compressed_bomb_is_cut_off_at_the_size_limit(tmp_path, repo, http_server):
    import gzip
    bomb = gzip.compress(b"<rss>" + b" " * 20_000_000, compresslevel=9)
    assert len(bomb) < 100_000
    http_server.routes["/feed.xml"] = Route(bomb, ctype="application/rss+xml", headers={"Content-Encoding": "gzip"})
    cfg = write_config(tmp_path, repo, feed_source(http_server.url("/feed.xml")), extra="max_response_bytes: 1000000\n")
    report, db = run_source(cfg, "wire")
    assert report.failed
    assert "exceeds the 1,000,000-byte limit" in rows(db, "select reason from errors")[0]["reason"]


def test_feed_in_a_legacy_encoding(tmp_path, repo, http_server):
    body = ('<?xml version="1.0" encoding="windows-1252"?><rss version="2.0"><channel><title>Fil</title>'
            "<item><title>Saisie à Marseille</title><link>http://x.invalid/a</link>"
            "<description>Les douanes ont saisi la cargaison « suspecte » jeudi, a déclaré le ministère.</description>"
            "</item></channel></rss>").encode("cp1252")
    http_server.routes["/feed.xml"] = Route(body, ctype="application/rss+xml")
    cfg = write_config(tmp_path, repo, feed_source(http_server.url("/feed.xml")))
    report, db = run_source(cfg, "wire")
    art = rows(db, "select title, text, published_at_source from articles")[0]
    assert art["title"] == "Saisie à Marseille" and "« suspecte » jeudi, a déclaré" in art["text"]
    assert art["published_at_source"] == "ingested"
