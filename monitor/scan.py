"""One pass of the monitor: ingest sources, then scan unscanned articles into alerts.

``run_once`` is what ``monitor run --once`` does and what the scheduled daemon
will call; it never raises on bad input: bad files and articles go to ``errors``.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from .config import Config
from .errors import MonitorError
from .ingest import ItemError, iter_files, read_path
from .sources import IngestReport, add_items, ingest_source
from .pipeline import Analyzer
from .alerts import make_alerts
from .incidents import DEFAULT_WINDOW_DAYS, Grouper
from .store import Store

__all__ = ["IngestReport", "ScanReport", "ingest_paths", "ingest_source", "scan_pending", "run_once", "lookback_since", "finish_cycle"]

log = logging.getLogger("monitor")
Progress = Callable[[int, int], None]


@dataclass
class ScanReport:
    scanned: int = 0
    failed: int = 0
    alerts_new: int = 0
    alerts_updated: int = 0
    by_level: Counter = field(default_factory=Counter)
    by_rule: Counter = field(default_factory=Counter)

    def add(self, other: "ScanReport") -> None:
        """Add another scan's counts."""
        self.scanned += other.scanned
        self.failed += other.failed
        self.alerts_new += other.alerts_new
        self.alerts_updated += other.alerts_updated
        self.by_level.update(other.by_level)
        self.by_rule.update(other.by_rule)


def finish_cycle(store: Store, run_id: int, status: str, ingest: IngestReport, scan: ScanReport) -> None:
    """Close a ``runs`` row with the cycle's counts."""
    store.finish_run(run_id, status, articles_ingested=ingest.added, duplicates=ingest.duplicates,
                     articles_scanned=scan.scanned, alerts_new=scan.alerts_new,
                     alerts_updated=scan.alerts_updated, errors=ingest.errors + scan.failed)


def ingest_paths(store: Store, paths: list[Path], source: str, max_bytes: int = 5_000_000) -> IngestReport:
    """Add every article under ``paths``; problems go to the ``errors`` table."""
    report = IngestReport()
    for root in paths:
        if not root.exists():
            store.record_error("ingest", source, str(root), "path does not exist")
            report.errors += 1
            continue
        for f in iter_files(root):
            report.files += 1
            try:
                items = list(read_path(f, max_bytes))
            except Exception as exc:  # a reader bug must not stop the other files
                items = [ItemError(str(f), f"unexpected error while reading: {exc!r}")]
            add_items(store, items, source, report)
    return report


def lookback_since(days: int, now: datetime | None = None) -> str:
    """The ISO-8601 UTC start of a look-back window of ``days`` days (0: no rescans at all)."""
    if days <= 0:
        return "9999-12-31T23:59:59Z"
    start = (now or datetime.now(timezone.utc)) - timedelta(days=days)
    return start.strftime("%Y-%m-%dT%H:%M:%SZ")


def scan_pending(store: Store, analyzer: Analyzer, batch: int = 200, progress: Progress | None = None,
                 should_stop: Callable[[], bool] | None = None, since: str | None = None,
                 incident_window_days: float = DEFAULT_WINDOW_DAYS) -> ScanReport:
    """Scan every article not yet scanned by the current ruleset version; group alerts into incidents.

    With ``since`` (see :func:`lookback_since`), articles already scanned by an older ruleset
    are rescanned only when published or ingested since then; never-scanned
    articles are always scanned.
    """
    report = ScanReport()
    version = analyzer.ruleset.version
    total = store.count_to_scan(version, since)
    grouper = Grouper(analyzer.ruleset, incident_window_days)
    after = ""
    while True:
        rows = store.articles_to_scan(version, batch, after, since)
        if not rows:
            break
        for row in rows:
            after = row["id"]
            if should_stop is not None and should_stop():
                return report
            try:
                analysis = analyzer.analyse(row["text"] or "", row["title"] or "", row["published_at"] or "")
                alerts = make_alerts(analysis, row["id"], version)
            except Exception as exc:  # one broken article never stops the scan
                reason = str(exc) if isinstance(exc, MonitorError) else f"{type(exc).__name__}: {exc}"
                store.record_error("scan", "", row["id"], reason)
                store.save_scan(row["id"], version, [], error=reason)
                report.failed += 1
                continue
            new, updated = store.save_scan(row["id"], version, alerts)
            grouper.article_scanned(store, row["id"])
            report.scanned += 1
            report.alerts_new += new
            report.alerts_updated += updated
            for a in alerts:
                report.by_level[a["level"]] += 1
                report.by_rule[a["rule_id"]] += 1
            if progress is not None:
                progress(report.scanned + report.failed, total)
    return report


def run_once(config: Config, store: Store, analyzer: Analyzer, progress: Progress | None = None,
             since: str | None = None) -> tuple[IngestReport, ScanReport]:
    """Ingest every configured source, then scan; the run is recorded in ``runs``.

    ``since`` is the rescan look-back (see :func:`scan_pending`); None rescans everything.
    """
    run_id = store.start_run("cycle", analyzer.ruleset.version)
    ingest = IngestReport()
    status = "failed"
    scan = ScanReport()
    try:
        for src in config.sources:
            ingest.add(ingest_source(config, store, src))
        scan = scan_pending(store, analyzer, config.scan_batch, progress, since=since,
                            incident_window_days=config.incident_window_days)
        status = "ok"
    finally:
        finish_cycle(store, run_id, status, ingest, scan)
    return ingest, scan
