"""The configured source kinds behind one ``ingest_source``: folder, jsonl and feed.

- folder: files dropped in a folder (recursive); a file is read again only when its
  size or mtime changed and then only ingested if its content hash changed.
- jsonl: a JSON Lines file or folder of them, streamed line by line, field names mappable.
- feed: an RSS/Atom URL fetched with conditional GET; entries (optionally with their
  page's main text) become articles. Transient failures back off exponentially;
  permanent ones stop the source until its URL changes or ``monitor sources --retry``.

Nothing here raises on bad input: every problem goes to the ``errors`` table.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

from .clean import decode_bytes
from .config import Config, Source
from .feeds import FeedEntry, FeedError, meta_charset, parse_feed
from .fetch import FetchError, Fetcher
from .ingest import FORMATS, ArticleIn, ItemError, html_article, iter_files, make_record, read_data, read_json_line
from .store import Store, utcnow
from .store import iso_utc as _iso
from .urls import canonical_url, is_http_url

__all__ = ["IngestReport", "ingest_source", "ingest_url", "fetcher_for", "add_items", "BACKOFF_BASE",
           "BACKOFF_MAX"]

log = logging.getLogger("monitor")
BACKOFF_BASE = 60.0  # seconds before the first retry of a failing feed; doubles per failure
BACKOFF_MAX = 6 * 3600.0
JSONL_SUFFIXES = (".jsonl", ".ndjson")


@dataclass
class IngestReport:
    added: int = 0
    duplicates: int = 0
    errors: int = 0
    files: int = 0
    unchanged: int = 0  # files skipped because they were already ingested
    skipped: bool = False  # a feed waiting for its backoff, or given up after a permanent failure
    failed: bool = False  # the source as a whole failed this cycle

    def add(self, other: "IngestReport") -> None:
        """Add another source's counts (what a cycle over several sources reports)."""
        self.added += other.added
        self.duplicates += other.duplicates
        self.errors += other.errors
        self.files += other.files


def fetcher_for(config: Config) -> Fetcher:
    return Fetcher(timeout=config.http_timeout, deadline=config.http_deadline, max_bytes=config.max_response_bytes,
                   max_redirects=config.max_redirects, host_delay=config.host_delay, user_agent=config.user_agent)


class _Writer:
    """Buffers articles and file states and writes them ``size`` at a time in one short transaction."""

    def __init__(self, store: Store, source: str, report: IngestReport, size: int = 100) -> None:
        self.store, self.source, self.report, self.size = store, source, report, size
        self.articles: list[tuple[dict[str, Any], str]] = []
        self.files: list[tuple[str, int, int, str, int, int]] = []

    def add(self, items: Iterator[ArticleIn | ItemError] | list[ArticleIn | ItemError],
            carried_url: str = "") -> tuple[int, int]:
        """Queue articles (deduplicated at write time, carrier noted); errors are recorded at once."""
        arts = errs = 0
        for item in items:
            if isinstance(item, ItemError):
                self.store.record_error("ingest", self.source, item.item, item.reason, item.location)
                self.report.errors += 1
                errs += 1
                continue
            self.articles.append((make_record(item, self.source), carried_url or item.url))
            arts += 1
            if len(self.articles) >= self.size:
                self.flush()
        return arts, errs

    def file_done(self, path: str, size: int, mtime_ns: int, digest: str, arts: int, errs: int) -> None:
        self.files.append((path, size, mtime_ns, digest, arts, errs))
        if len(self.files) >= self.size:
            self.flush()

    def flush(self) -> None:
        if not self.articles and not self.files:
            return
        for _, added in self.store.add_articles_from(self.articles, self.source, self.files):
            if added:
                self.report.added += 1
            else:
                self.report.duplicates += 1
        self.articles.clear()
        self.files.clear()


def add_items(store: Store, items: Iterator[ArticleIn | ItemError] | list[ArticleIn | ItemError], source: str,
              report: IngestReport, carried_url: str = "") -> tuple[int, int]:
    """Store articles (deduplicated, carrier noted) and record errors. Returns (articles, errors)."""
    writer = _Writer(store, source, report)
    counts = writer.add(items, carried_url)
    writer.flush()
    return counts


# ------------------------------------------------------------------ folder and jsonl

def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _jsonl_items(path: Path, fields: dict[str, str], max_line: int) -> Iterator[ArticleIn | ItemError]:
    """Stream a JSON Lines file: a bad line is an error for that line only."""
    origin = str(path)
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, 1):
            where = f"{origin}:{lineno}"
            if len(line) > max_line:
                yield ItemError(where, f"line is {len(line):,} bytes, over the {max_line:,}-byte limit", where)
                continue
            if lineno == 1 and line.startswith((b"\xff\xfe", b"\xfe\xff")):
                yield ItemError(origin, "UTF-16 JSON Lines files are not supported; save the export as UTF-8")
                return
            if b"\x00" in line:
                yield ItemError(where, "binary data (NUL bytes) in the line", where)
                continue
            text, notes = decode_bytes(line)
            art = read_json_line(text.lstrip("\ufeff"), where, fields)
            if isinstance(art, ArticleIn):
                art.repairs = notes
            if art is not None:
                yield art


def _files(source: Source) -> Iterator[Path]:
    root = source.path
    assert root is not None
    if source.kind == "jsonl":
        if root.is_file():
            yield root
            return
        for p in iter_files(root):
            if p.suffix.lower() in JSONL_SUFFIXES:
                yield p
    elif root.is_file():
        yield root
    else:  # every visible file: unsupported types are reported once (then remembered as seen)
        for p in sorted(root.rglob("*")):
            hidden = any(part.startswith(".") for part in p.relative_to(root).parts)
            if p.is_file() and not hidden and p.name.lower() != "readme.md":
                yield p


def _ingest_files(config: Config, store: Store, source: Source, report: IngestReport) -> None:
    root = source.path
    if root is None or not root.exists():
        raise FileNotFoundError(f"{root}: folder or file does not exist")
    fields = dict(source.fields)
    known = store.file_states(source.name)
    writer = _Writer(store, source.name, report)
    try:
        for f in _files(source):
            _ingest_file(config, store, source, report, writer, f, known.get(str(f)), fields)
    finally:
        writer.flush()


def _ingest_file(config: Config, store: Store, source: Source, report: IngestReport, writer: _Writer, f: Path,
                 prev: tuple[int, int, str] | None, fields: dict[str, str]) -> None:
    """One file of a folder or jsonl source; skipped when size and mtime (or content hash) are unchanged."""
    key = str(f)
    items: list[ArticleIn | ItemError] | Iterator[ArticleIn | ItemError]
    try:
        st = f.stat()
        if prev and prev[0] == st.st_size and prev[1] == st.st_mtime_ns:
            report.unchanged += 1
            return
        streamed = source.kind == "jsonl"
        fmt = FORMATS.get(f.suffix.lower())
        digest = ""
        if fmt is None and not streamed:
            items = [ItemError(key, f"unsupported file type '{f.suffix}' (supported: {', '.join(sorted(FORMATS))})")]
        elif not streamed and st.st_size > config.max_file_bytes:
            items = [ItemError(key, f"file is {st.st_size:,} bytes, over the {config.max_file_bytes:,}-byte limit "
                                    "(max_file_bytes)")]
        else:
            data = b"" if streamed else f.read_bytes()
            digest = _file_digest(f) if streamed else hashlib.sha256(data).hexdigest()
            if prev and prev[2] == digest:  # touched but not changed
                writer.file_done(key, st.st_size, st.st_mtime_ns, digest, 0, 0)
                report.unchanged += 1
                return
            items = _jsonl_items(f, fields, config.max_file_bytes) if streamed else \
                read_data(data, key, fmt or "text", fields)
    except OSError as exc:
        store.record_error("ingest", source.name, key, f"cannot read file: {exc.strerror or exc}")
        report.errors += 1
        return
    report.files += 1
    try:
        arts, errs = writer.add(items)
    except Exception as exc:  # a reader bug must not stop the other files
        store.record_error("ingest", source.name, key, f"unexpected error while reading: {exc!r}")
        report.errors += 1
        arts, errs = 0, 1
    writer.file_done(key, st.st_size, st.st_mtime_ns, digest, arts, errs)


# ------------------------------------------------------------------ pages and feeds

def _page(fetcher: Fetcher, url: str) -> ArticleIn | ItemError:
    """Fetch one page and extract its main text and metadata."""
    try:
        resp = fetcher.get(url, accept="text/html,application/xhtml+xml;q=0.9,*/*;q=0.5")
    except FetchError as exc:
        return ItemError(url, f"{'transient' if exc.transient else 'permanent'} fetch failure: {exc.reason}")
    ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype and not (ctype.startswith("text/") or "html" in ctype or "xml" in ctype):
        return ItemError(url, f"not a web page (Content-Type {ctype})")
    if b"\x00" in resp.content[:4096]:
        return ItemError(url, "binary response (contains NUL bytes), not a web page")
    text, notes = decode_bytes(resp.content, resp.charset or meta_charset(resp.content))
    art = html_article(text, url) if "<" in text[:2000] else ArticleIn(title="", text=text)
    if isinstance(art, ArticleIn):
        if not is_http_url(art.url):
            art.url = resp.url
        art.origin, art.format, art.repairs = url, "html", notes
    return art


def ingest_url(config: Config, store: Store, url: str, source: str = "cli") -> IngestReport:
    """Fetch and extract one page by hand (``monitor ingest URL``)."""
    report = IngestReport(files=1)
    if not is_http_url(url):
        store.record_error("ingest", source, url, "not an http(s) URL")
        report.errors += 1
        return report
    with fetcher_for(config) as fetcher:
        add_items(store, [_page(fetcher, url)], source, report, carried_url=url)
    return report


def _summary(entry: FeedEntry, feed_url: str) -> ArticleIn:
    """The article a feed entry makes by itself (its summary or content)."""
    link = entry.link if is_http_url(entry.link) else ""
    return ArticleIn(title=entry.title, text=entry.text, url=link, published_at=entry.published_at,
                     origin=link or f"{feed_url}#{entry.entry_id or entry.title}", format="feed", author=entry.author)


def _entry_article(fetcher: Fetcher | None, entry: FeedEntry, feed_url: str, store: Store,
                   source: str) -> ArticleIn | ItemError:
    summary = _summary(entry, feed_url)
    link = summary.url
    if fetcher is None or not link:
        if not summary.text.strip():
            return ItemError(summary.origin, "feed entry has no summary or content text")
        return summary
    page = _page(fetcher, link)
    if isinstance(page, ItemError):
        if summary.text.strip():
            store.record_error("ingest", source, link, f"{page.reason}; kept the feed summary instead")
            return summary
        return page
    page.title = page.title or entry.title
    page.published_at = entry.published_at or page.published_at
    page.author = page.author or entry.author
    page.format = "feed-page"
    return page


def _failed(store: Store, source: Source, state: dict[str, Any], report: IngestReport, reason: str,
            transient: bool) -> None:
    """Record a failed feed cycle: back off exponentially if transient, give up if permanent."""
    now = datetime.now(timezone.utc)
    failures = int(state.get("failures") or 0) + 1
    store.record_error("ingest", source.name, source.url, f"{'transient' if transient else 'permanent'} {reason}"
                       + ("" if transient else f" (not retried until the URL changes or 'monitor sources --retry "
                          f"{source.name}')"))
    report.errors += 1
    report.failed = True
    values: dict[str, Any] = {"failures": failures, "last_error": reason, "last_error_at": _iso(now)}
    if transient:
        values["next_try_at"] = _iso(now + timedelta(seconds=min(BACKOFF_BASE * 2 ** (failures - 1), BACKOFF_MAX)))
    else:
        values["gave_up_at"] = _iso(now)
    store.update_source_state(source.name, **values)


def _ingest_feed(config: Config, store: Store, source: Source, report: IngestReport) -> None:
    state = store.source_state(source.name)  # ingest_source reset it if the URL changed
    now = datetime.now(timezone.utc)
    if state.get("gave_up_at"):
        report.skipped = True
        return
    if state.get("next_try_at") and state["next_try_at"] > _iso(now):
        report.skipped = True
        return
    etag, modified = state.get("etag"), state.get("last_modified")
    with fetcher_for(config) as fetcher:
        try:
            resp = fetcher.get(source.url, etag, modified,
                               accept="application/rss+xml,application/atom+xml,application/xml;q=0.9,*/*;q=0.5")
        except FetchError as exc:
            _failed(store, source, state, report, f"fetch failure: {exc.reason}", exc.transient)
            return
        if resp.not_modified:
            store.update_source_state(source.name, failures=0, next_try_at=None)
            return
        try:
            entries, _title, warning = parse_feed(resp.content, resp.headers)
        except FeedError as exc:  # maybe a temporary error page: back off like a transient failure
            _failed(store, source, state, report, str(exc), not exc.permanent)
            store.update_source_state(source.name, etag=None, last_modified=None)
            return
        store.update_source_state(source.name, failures=0, next_try_at=None)
        if warning:
            store.record_error("ingest", source.name, source.url, warning)
            report.errors += 1
        report.files += 1
        new = 0
        capped = retry = False
        for entry in entries:
            link = canonical_url(entry.link) if is_http_url(entry.link) else ""
            if link:
                known, origin = store.article_for_url(link, entry.link), entry.link
            else:  # no link: the entry is its summary, known by its content (else it would be new every cycle)
                summary = _summary(entry, source.url)
                known = store.article_for_hash(make_record(summary, source.name)["content_hash"])
                origin = summary.origin
            if known is not None:  # stored before (by any source): note this source, fetch nothing
                store.note_carrier(known, source.name, entry.link, origin)
                report.duplicates += 1
                continue
            if new >= source.max_entries:
                capped = True
                continue
            new += 1
            item = _entry_article(fetcher if source.fetch_pages else None, entry, source.url, store, source.name)
            if isinstance(item, ItemError) and item.reason.startswith("transient"):
                retry = True  # a page that failed for now, with no summary to keep: read the feed again
            add_items(store, [item], source.name, report, carried_url=entry.link)
        if capped:
            store.record_error("ingest", source.name, source.url,
                               f"feed has {len(entries):,} entries; {source.max_entries:,} new ones ingested this "
                               "cycle (max_entries), the rest on the next cycles")
            report.errors += 1
        # Remember validators only when every entry was stored (or failed for good), so a capped feed, or
        # one with a page to retry, is fetched again in full; a kill before this line has the same effect.
        complete = not (capped or retry)
        store.update_source_state(source.name, etag=resp.headers.get("etag") if complete else None,
                                  last_modified=resp.headers.get("last-modified") if complete else None)


# ------------------------------------------------------------------ one source

def ingest_source(config: Config, store: Store, source: Source) -> IngestReport:
    """Ingest one configured source (what a scheduled source job does); never raises on bad input."""
    report = IngestReport()
    location = source.url if source.kind == "feed" else str(source.path)
    started = utcnow()
    before = store.source_state(source.name)
    if before.get("location") not in (None, location):
        store.update_source_state(source.name, failures=0, next_try_at=None, gave_up_at=None, etag=None,
                                  last_modified=None)
    store.update_source_state(source.name, kind=source.kind, location=location, last_attempt_at=started)
    try:
        if source.kind == "feed":
            _ingest_feed(config, store, source, report)
        else:
            _ingest_files(config, store, source, report)
    except Exception as exc:  # the daemon must never die on input: record and carry on
        reason = str(exc) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
        log.debug("source %s failed", source.name, exc_info=True)
        store.record_error("ingest", source.name, location, reason)
        store.update_source_state(source.name, last_error=reason, last_error_at=utcnow())
        report.errors += 1
        report.failed = True
    if not report.failed and not report.skipped:
        store.update_source_state(source.name, last_success_at=utcnow())
    if report.errors and not report.failed:
        store.update_source_state(source.name, last_error=f"{report.errors} item error(s) in the last cycle",
                                  last_error_at=utcnow())
    return report  # the source's counters moved with each write (Store.add_articles_from, record_error)
