"""Folder and JSON Lines sources on real files with odd encodings and names; mixed-source runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import invoke
from ingest_helpers import Route, rss
from monitor.config import load_config
from monitor.errors import ConfigError
from test_ingest_feeds import rows, run_source, write_config

ARTICLE = ("Port officials in the south reported on Friday that a tanker had switched off its transponder "
           "for six days before it reappeared near the strait.")


def folder_source(path: Path, name: str = "drop", kind: str = "folder", extra: str = "") -> str:
    return f"  - name: {name}\n    kind: {kind}\n    path: {path}\n{extra}"



@pytest.fixture
def drop(tmp_path: Path) -> Path:
    d = tmp_path / "drop"
    (d / "sub dir" / "déjà vu").mkdir(parents=True)
    return d


def test_odd_encodings_and_names(tmp_path, repo, drop):
    files = {
        "utf16 bom.txt": ("Tanker goes dark\n\n" + ARTICLE + " Naïve café owners watched.").encode("utf-16"),
        "sub dir/cp1252 – notes.txt": ("Cargo declared as “machinery”\n\nThe ministry’s statement on the "
                                       "café exports was clear, officials said.").encode("cp1252"),
        "sub dir/déjà vu/mixed #1.md": "# Mixed bytes report\n\nThe envoy’s remarks in ".encode("utf-8")
        + "Zürich were “firm” and brief.".encode("cp1252"),
        "sub dir/кириллица.txt": ("Санкции\n\nСанкции против компании были расширены в пятницу, сообщило "
                                  "министерство.").encode("cp1251"),
        "mojibake.txt": "Westâ€™s response\n\nThe Westâ€™s response to the cafÃ© owners was swift.".encode("utf-8"),
        "bom.json": b"\xef\xbb\xbf" + json.dumps({"title": "BOM JSON", "text": ARTICLE + " Second."}).encode(),
        "empty.txt": b"",
        "blank.md": b"  \n\n ",
        "image.txt": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
        "big.html": b"<html><body><p>" + b"word " * 400 + b"</p></body></html>",
        "notes.docx": b"PK\x03\x04 not an article type",
        ".hidden.txt": b"Hidden\n\nNot an article.",
    }
    for name, data in files.items():
        (drop / name).write_bytes(data)
    cfg = write_config(tmp_path, repo, folder_source(drop), extra="max_file_bytes: 1500\n")
    report, db = run_source(cfg, "drop")
    arts = {r["title"]: r for r in rows(db, "select title, text, repairs, origin from articles")}
    assert set(arts) == {"Tanker goes dark", "Cargo declared as “machinery”", "Mixed bytes report", "Санкции",
                         "West’s response", "BOM JSON"}, sorted(arts)
    assert "Naïve café" in arts["Tanker goes dark"]["text"]
    assert "decoded-utf16" in arts["Tanker goes dark"]["repairs"]
    assert "ministry’s statement on the café" in arts["Cargo declared as “machinery”"]["text"]
    assert "envoy’s remarks in Zürich were “firm”" in arts["Mixed bytes report"]["text"]
    assert "расширены в пятницу" in arts["Санкции"]["text"]
    assert "West’s response to the café owners" in arts["West’s response"]["text"]
    assert arts["Mixed bytes report"]["origin"].endswith("déjà vu/mixed #1.md")
    reasons = {Path(r["item"]).name: r["reason"] for r in rows(db, "select item, reason from errors")}
    assert reasons == {"empty.txt": "empty file", "blank.md": "empty file",
                       "image.txt": "binary file (contains NUL bytes), not an article",
                       "big.html": "file is 2,033 bytes, over the 1,500-byte limit (max_file_bytes)",
                       "notes.docx": "unsupported file type '.docx' (supported: .eml, .htm, .html, .json, .jsonl, "
                                     ".markdown, .md, .ndjson, .text, .txt)"}
    assert (report.added, report.errors) == (6, 5)


def test_unchanged_files_not_read_again_changed_files_are(tmp_path, repo, drop):
    a = drop / "a.txt"
    a.write_text("First story\n\n" + ARTICLE, encoding="utf-8")
    (drop / "b.txt").write_text("Second story\n\n" + ARTICLE.replace("six", "nine"), encoding="utf-8")
    (drop / "broken.json").write_text('{"title": "x", ', encoding="utf-8")
    cfg = write_config(tmp_path, repo, folder_source(drop))
    report, db = run_source(cfg, "drop")
    assert (report.added, report.errors, report.files) == (2, 1, 3)
    report, _ = run_source(cfg, "drop")  # nothing changed: no file read, no error repeated
    assert (report.added, report.errors, report.files, report.unchanged) == (0, 0, 0, 3)
    os.utime(a, ns=(a.stat().st_atime_ns, a.stat().st_mtime_ns + 5_000_000_000))  # touched, same content
    report, _ = run_source(cfg, "drop")
    assert (report.files, report.unchanged) == (0, 3)
    a.write_text("First story, updated\n\n" + ARTICLE + " It was later seen off the coast.", encoding="utf-8")
    report, _ = run_source(cfg, "drop")
    assert (report.added, report.files, report.unchanged) == (1, 1, 2)
    files = rows(db, "select path, articles, errors from source_files order by path")
    assert [(Path(f["path"]).name, f["articles"], f["errors"]) for f in files] == [
        ("a.txt", 1, 0), ("b.txt", 1, 0), ("broken.json", 0, 1)]
    assert len(rows(db, "select * from errors")) == 1


def test_same_content_twice_is_one_article_with_both_carriers(tmp_path, repo, drop):
    (drop / "one.txt").write_text("Dark tanker\n\n" + ARTICLE, encoding="utf-8")
    (drop / "sub dir" / "copy.md").write_text("---\ntitle: Dark tanker\n---\n" + ARTICLE + "\n", encoding="utf-8")
    cfg = write_config(tmp_path, repo, folder_source(drop))
    report, db = run_source(cfg, "drop")
    assert (report.added, report.duplicates) == (1, 1)
    carried = rows(db, "select origin from article_sources order by origin")
    assert sorted(Path(c["origin"]).name for c in carried) == ["copy.md", "one.txt"]
    view = rows(db, "select carried_by, title from article_sources_review")
    assert {v["carried_by"] for v in view} == {1} and {v["title"] for v in view} == {"Dark tanker"}


def test_email_files(tmp_path, repo, drop):
    (drop / "alert.eml").write_bytes(
        b"From: Wire Desk <desk@example.invalid>\r\nTo: analyst@example.invalid\r\n"
        b"Subject: =?utf-8?q?Cargo_seized_at_the_caf=C3=A9_pier?=\r\nDate: Wed, 05 Mar 2025 14:00:00 +0100\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n"
        b"\r\nCustoms officers seized the cargo at the caf\xe9 pier on Wednesday, the agency said.\r\n")
    (drop / "html.eml").write_bytes(
        b"From: desk@example.invalid\r\nSubject: HTML bulletin\r\nDate: Thu, 06 Mar 2025 09:00:00 +0000\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><article><p>"
        + ARTICLE.encode() + b"</p><p>" + ARTICLE.replace("south", "north").encode() + b"</p></article></body></html>")
    (drop / "nobody.eml").write_bytes(b"From: x@example.invalid\r\nSubject: empty\r\n"
                                      b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz--\r\n")
    cfg = write_config(tmp_path, repo, folder_source(drop))
    report, db = run_source(cfg, "drop")
    arts = {r["title"]: r for r in rows(db, "select * from articles")}
    assert arts["Cargo seized at the café pier"]["text"].startswith("Customs officers seized the cargo at the café")
    assert arts["Cargo seized at the café pier"]["published_at"] == "2025-03-05T13:00:00Z"
    assert arts["Cargo seized at the café pier"]["source"] == "Wire Desk"
    assert "tanker had switched off" in arts["HTML bulletin"]["text"]
    assert report.errors == 1 and "no text or HTML part" in rows(db, "select reason from errors")[0]["reason"]


def test_jsonl_source_mapping_bad_lines_and_streaming(tmp_path, repo):
    export = tmp_path / "export.jsonl"
    lines = [json.dumps({"headline": f"Item {i}", "body": f"{ARTICLE} Number {i}.", "link":
                         f"https://news.example.invalid/a/{i}?fbclid=abc", "ts": 1741170000 + i,
                         "outlet": "Example Wire"}) for i in range(5)]
    lines.insert(2, '{"headline": "broken", "body": ')
    lines.insert(4, json.dumps({"headline": "no body"}))
    lines.insert(5, "")
    export.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode("utf-8") + b"\n")
    src = folder_source(export, name="export", kind="jsonl",
                        extra="    fields: {title: headline, text: body, url: link, published_at: ts, source: outlet}\n")
    cfg = write_config(tmp_path, repo, src)
    report, db = run_source(cfg, "export")
    assert (report.added, report.errors) == (5, 2)
    errs = rows(db, "select item, reason from errors order by id")
    assert errs[0]["item"].endswith("export.jsonl:3") and "invalid JSON line" in errs[0]["reason"]
    assert errs[1]["item"].endswith("export.jsonl:5") and "no 'body' field" in errs[1]["reason"]
    art = rows(db, "select * from articles where title = 'Item 0'")[0]
    assert art["url"] == "https://news.example.invalid/a/0" and art["source"] == "Example Wire"
    assert art["published_at"] == "2025-03-05T10:20:00Z"
    with export.open("a", encoding="utf-8") as fh:  # an export that grows
        fh.write(json.dumps({"headline": "Item 9", "body": ARTICLE + " Late.", "link": "https://n.invalid/9"}) + "\n")
    report, _ = run_source(cfg, "export")
    assert (report.added, report.duplicates) == (1, 5)


@pytest.mark.parametrize("source,message", [
    ("  - name: f\n    kind: feed\n", "source 'f' needs a 'url' starting with http:// or https://"),
    ("  - name: f\n    kind: feed\n    url: file:///etc/passwd\n", "needs a 'url' starting with http"),
    ("  - name: f\n    kind: feed\n    url: http://x.invalid/\n    fields: {text: body}\n",
     "'fields' does not apply to kind feed"),
    ("  - name: j\n    kind: jsonl\n    path: x.jsonl\n    fields: {body: text}\n", "unknown field 'body'"),
    ("  - name: f\n    kind: feed\n    url: http://x.invalid/\n    max_entries: 0\n", "'max_entries' must be"),
])
def test_source_config_errors_point_at_the_line(tmp_path, repo, source, message):
    cfg = write_config(tmp_path, repo, source)
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    assert message in str(info.value) and str(info.value).startswith(f"{cfg}:")
    assert int(str(info.value).split(":")[1]) >= 8


def test_run_once_with_folder_jsonl_and_feed_sources(tmp_path, repo, drop, http_server):
    story = http_server.url("/story/7")
    (drop / "dark.txt").write_text(f"---\ntitle: Tanker goes dark\nurl: {story}?utm_campaign=x#top\n"
                                   f"date: 2025-03-04\n---\n{ARTICLE}\n", encoding="utf-8")
    export = tmp_path / "exports"
    export.mkdir()
    (export / "day1.jsonl").write_text(
        json.dumps({"title": "North Korean shells", "content": "North Korea shipped artillery shells to Russia by "
                    "rail, the report said.", "url": "https://n.invalid/shells", "date": "2025-03-03"}) + "\n"
        + "not json\n", encoding="utf-8")
    http_server.routes["/feed.xml"] = Route(rss([
        {"title": "Tanker goes dark (wire)", "link": story, "guid": "7", "date": "Tue, 04 Mar 2025 10:00:00 GMT",
         "description": "A tanker switched off its transponder."},
        {"title": "Fresh", "link": http_server.url("/story/8"), "guid": "8",
         "description": "Inspectors boarded the vessel at dawn."}]), ctype="application/rss+xml", etag='"e"')
    sources = (folder_source(drop) + folder_source(export, name="exports", kind="jsonl")
               + f"  - name: wire\n    kind: feed\n    url: {http_server.url('/feed.xml')}\n")
    cfg = write_config(tmp_path, repo, sources)
    runner = CliRunner()
    result = invoke(runner, "--config", str(cfg), "run", "--once")
    assert result.exit_code == 0, result.output
    assert "ingested 3 new article(s) from 3 source(s) (1 already stored, 1 error(s))" in result.output
    db = tmp_path / "monitor.db"
    carried = rows(db, "select ar.title, group_concat(s.source) as sources from articles ar join article_sources s "
                   "on s.article_id = ar.id group by ar.id order by ar.title")
    assert {"title": "Tanker goes dark", "sources": "drop,wire"} in carried
    assert rows(db, "select count(*) as n from alerts where rule_id = 'arms_transfer_embargoed_state'")[0]["n"] >= 1
    result = invoke(runner, "--config", str(cfg), "run", "--once")
    assert "ingested 0 new article(s) from 3 source(s) (0 already stored, 0 error(s))" in result.output
    result = invoke(runner, "--config", str(cfg), "sources")
    assert result.exit_code == 0
    assert "wire (feed) " + http_server.url("/feed.xml") in result.output
    assert "exports (jsonl)" in result.output and "articles carried: 1 (added 1, duplicates 0, errors 1)" in result.output
    assert "articles carried: 2 (added 1, duplicates 1, errors 0)" in result.output


def test_missing_folder_is_an_error_not_a_crash(tmp_path, repo):
    cfg = write_config(tmp_path, repo, folder_source(tmp_path / "nowhere"))
    report, db = run_source(cfg, "drop")
    assert report.failed and report.errors == 1
    assert "does not exist" in rows(db, "select reason from errors")[0]["reason"]
    result = invoke(CliRunner(), "--config", str(cfg), "sources")
    assert result.exit_code == 0 and "does not exist" in result.output and "last success: -" in result.output
