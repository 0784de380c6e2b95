"""URL canonicalisation and byte decoding, the two normalisations every source shares."""

from __future__ import annotations

import pytest

from monitor.clean import decode_bytes, repair_text
from monitor.urls import canonical_url, is_http_url


@pytest.mark.parametrize("url,canonical", [
    ("HTTP://News.Example.ORG:80/a/b?utm_source=x&id=3&fbclid=zz&gclid=1#comments", "http://news.example.org/a/b?id=3"),
    ("https://news.example.org:443/x?b=2&a=1&utm_medium=email&mc_cid=9", "https://news.example.org/x?a=1&b=2"),
    ("https://news.example.org", "https://news.example.org/"),
    ("https://news.example.org:8443/p?msclkid=1", "https://news.example.org:8443/p"),
])
def test_canonical_urls(url, canonical):
    assert canonical_url(url) == canonical
    assert canonical_url(canonical) == canonical


@pytest.mark.parametrize("url", ["ftp://x.invalid/a", "file:///etc/passwd", "javascript:alert(1)", "not a url", ""])
def test_non_http_urls_are_not_fetchable_and_left_alone(url):
    assert not is_http_url(url)
    assert canonical_url(url) == url.strip()


@pytest.mark.parametrize("data,declared,text,note", [
    ("Zürich “talks”".encode("utf-8"), None, "Zürich “talks”", None),
    ("Zürich “talks”".encode("utf-8"), "iso-8859-1", "Zürich “talks”", None),  # wrong declaration
    ("Zürich “talks”".encode("cp1252"), "utf-8", "Zürich “talks”", "decoded-cp1252"),  # wrong declaration
    ("Zürich “talks”".encode("cp1252"), None, "Zürich “talks”", "decoded-cp1252"),
    ("Zürich “talks”".encode("utf-16"), None, "Zürich “talks”", "decoded-utf16"),
    ("Zürich ".encode("utf-8") + "“talks”".encode("cp1252"), None, "Zürich “talks”", "decoded-utf8-cp1252-mixed"),
    ("Переговоры в Женеве завершились без соглашения о поставках.".encode("koi8-r"), "koi8-r",
     "Переговоры в Женеве завершились без соглашения о поставках.", "decoded-koi8-r"),
    ("Переговоры в Женеве завершились без соглашения о поставках.".encode("cp1251"), None,
     "Переговоры в Женеве завершились без соглашения о поставках.", "decoded-cp1251"),
])
def test_decode_bytes(data, declared, text, note):
    got, notes = decode_bytes(data, declared)
    assert got == text
    assert (note in notes) if note else notes == []


@pytest.mark.parametrize("raw,fixed,note", [
    ("The Westâ€™s reply", "The West’s reply", "ftfy"),
    ("AT&amp;T said", "AT&T said", "ftfy"),
    ("the ministry said.â€\nNext", "the ministry said.”\nNext", "lossy-quote:1"),
    ("plain “quoted” café text", "plain “quoted” café text", None),
])
def test_repair_text(raw, fixed, note):
    got, notes = repair_text(raw)
    assert got == fixed
    assert (note in notes) if note else notes == []


def test_html_publication_time_keeps_its_hour_and_offset(tmp_path):
    from monitor.ingest import ArticleIn, make_record, read_path
    page = tmp_path / "p.html"
    page.write_text(
        '<html><head><title>Tanker seized</title>'
        '<meta property="article:published_time" content="2024-03-05T01:30:00+02:00"></head><body><article>'
        "<h1>Tanker seized</h1><p>North Korea shipped coal to a port in the region last week, officials said on "
        "Tuesday in a statement that gave more details about the cargo and the ship involved.</p>"
        "<p>A second paragraph about the vessel and its crew keeps the extractor interested.</p>"
        "</article></body></html>", encoding="utf-8")
    [item] = [i for i in read_path(page) if isinstance(i, ArticleIn)]
    rec = make_record(item, "t")
    # 01:30 at +02:00 is the previous day in UTC: a day-only date would be off by one
    assert (rec["published_at"], rec["published_at_source"]) == ("2024-03-04T23:30:00Z", "article")
