"""``monitor run``: the scheduled, hot-reloading, crash-safe daemon around ingest and scan.

One APScheduler 3 ``BlockingScheduler`` in the main thread with three single-thread
executors, so at most one thread evaluates rules at a time:

* ``default``: one job per source (its ``every`` interval or ``cron``), each an ingest
  followed by a scan, plus the one-shot ``rescan`` that follows a rules reload;
* ``watch``: polls rule and list files, validates a changed ruleset (lint + inline
  tests) and hands it to the scanner, and writes the heartbeat;
* ``notify``: sends notifications (never in the scanning thread).

Every job has ``max_instances=1, coalesce=True, misfire_grace_time=None``: no
overlap, and a run that is late because another job was busy still runs. Each
thread has its own SQLite connection; every write is a short transaction, and each
article's alerts and scanned mark are committed together, so ``kill -9`` at any
moment loses nothing. SIGTERM/SIGINT set a stop flag that scans check between
articles and ingests check between items; the process then exits 0.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from .config import Config, Source
from .errors import MonitorError
from .instance import InstanceLock
from .notify import notify_pending
from .pipeline import Analyzer
from .reload import rules_fingerprint, validate_ruleset
from .scan import IngestReport, ScanReport, finish_cycle, ingest_source, lookback_since, scan_pending
from .store import Store, iso_utc, utcnow

__all__ = ["Daemon", "Stopping", "STOP_GRACE"]

log = logging.getLogger("monitor.daemon")
STOP_GRACE = 8.0  # seconds a job may take to notice the stop flag before the process exits anyway
HEARTBEAT_EVERY = 10.0
NOTIFY_EVERY = 30.0
JOB_DEFAULTS = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}


class Stopping(BaseException):
    """Raised inside a job when the daemon is stopping (a BaseException so input handlers don't eat it)."""


# Every Store method that ingestion writes through (sources.py, scan.ingest_paths).
_GUARDED_WRITES = frozenset({"add_article", "add_articles_from", "note_carrier",
                             "update_source_state", "transaction", "record_error"})


class _StoppableStore:
    """The store handed to ingest: every write first checks the stop flag (ingest has no stop hook)."""

    def __init__(self, store: Store, stop: threading.Event) -> None:
        self._store = store
        self._stop = stop

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if name in _GUARDED_WRITES and callable(attr):
            def guarded(*args: Any, **kwargs: Any) -> Any:
                if self._stop.is_set():
                    raise Stopping()
                return attr(*args, **kwargs)
            return guarded
        return attr


@dataclass
class Cycle:
    job: str
    ingest: IngestReport
    scan: ScanReport
    status: str
    seconds: float


class Daemon:
    """``Daemon(config).run()`` blocks until SIGTERM/SIGINT (or :meth:`stop`); returns the exit status."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.stop_event = threading.Event()
        self.analyzer: Analyzer | None = None
        self._pending: tuple[Analyzer, float] | None = None
        self._fingerprint: tuple[tuple[str, int, int], ...] = ()
        self._local = threading.local()
        self._stores: list[Store] = []
        self._guard = threading.Lock()
        self._busy = 0
        self._last_heartbeat = 0.0
        self.scheduler = BlockingScheduler(
            executors={"default": ThreadPoolExecutor(1), "watch": ThreadPoolExecutor(1),
                       "notify": ThreadPoolExecutor(1)},
            job_defaults=JOB_DEFAULTS, timezone=timezone.utc)

    # ------------------------------------------------------------ plumbing

    def store(self) -> Store:
        """This thread's own connection to the database."""
        s = getattr(self._local, "store", None)
        if s is None:
            s = self._local.store = Store.open(self.config.database)
            with self._guard:
                self._stores.append(s)
        return s

    def _since(self) -> str:
        return lookback_since(self.config.rescan_days)

    def _should_yield(self) -> bool:
        return self.stop_event.is_set() or self._pending is not None

    def _set_daemon(self, **fields: Any) -> None:
        cols = ", ".join(f"{k} = :{k}" for k in fields)
        with self.store().transaction() as db:
            db.execute(f"update daemon set {cols} where id = 1", fields)

    def _job_row(self, name: str, **fields: Any) -> None:
        job = self.scheduler.get_job(name)
        nxt = job.next_run_time if job is not None else None
        fields["next_run_at"] = iso_utc(nxt) if nxt else None
        cols = ", ".join(f"{k} = :{k}" for k in fields)
        with self.store().transaction() as db:
            db.execute(f"update jobs set {cols} where name = :name", {**fields, "name": name})

    def _job(self, name: str, body: Callable[[], Cycle | None]) -> None:
        """Run one job: bookkeeping in ``jobs``; an error is logged and recorded, never raised."""
        with self._guard:
            self._busy += 1
        try:
            if self.stop_event.is_set():
                return
            self._job_row(name, last_started_at=utcnow())
            status, error, cycle = "ok", "", None
            try:
                cycle = body()
                status = cycle.status if cycle else "ok"
            except Stopping:
                status = "stopped"
            except Exception as exc:  # the daemon never dies on a job
                status, error = "failed", f"{type(exc).__name__}: {exc}"
                log.exception("job %s failed", name)
                try:
                    self.store().record_error("daemon", name, "", error)
                except Exception:
                    log.exception("could not record the error of job %s", name)
            counts = {}
            if cycle is not None:
                counts = {"last_ingested": cycle.ingest.added, "last_scanned": cycle.scan.scanned,
                          "last_alerts_new": cycle.scan.alerts_new}
            ok = 1 if status in ("ok", "stopped") else 0
            with self.store().transaction() as db:
                db.execute("update jobs set runs_ok = runs_ok + ?, runs_failed = runs_failed + ? where name = ?",
                           [ok, 1 - ok, name])
            self._job_row(name, last_finished_at=utcnow(), last_status=status, last_error=error, **counts)
        finally:
            with self._guard:
                self._busy -= 1

    # ------------------------------------------------------------ jobs

    def _apply_pending(self) -> None:
        pending = self._pending
        if pending is None:
            return
        analyzer, detected = pending
        old = self.analyzer.ruleset.version if self.analyzer else "-"
        self.analyzer = analyzer
        self._pending = None
        self._set_daemon(ruleset_version=analyzer.ruleset.version, ruleset_loaded_at=utcnow())
        log.info("ruleset %s is active (was %s), applied %.0f ms after the change was detected",
                 analyzer.ruleset.version, old, (time.monotonic() - detected) * 1000,
                 extra={"fields": {"ruleset": analyzer.ruleset.version, "previous": old,
                                   "reload_ms": round((time.monotonic() - detected) * 1000)}})

    def _scan(self) -> ScanReport:
        total = ScanReport()
        while not self.stop_event.is_set():
            self._apply_pending()
            assert self.analyzer is not None
            r = scan_pending(self.store(), self.analyzer, self.config.scan_batch, None, self._should_yield,
                             since=self._since(), incident_window_days=self.config.incident_window_days)
            total.add(r)
            if self._pending is None:
                break
        return total

    def _cycle(self, kind: str, sources: list[Source]) -> Cycle:
        assert self.analyzer is not None
        started = time.monotonic()
        store = self.store()
        run_id = store.start_run(kind, self.analyzer.ruleset.version)
        ingest, scan, status = IngestReport(), ScanReport(), "failed"
        try:
            for src in sources:
                ingest.add(ingest_source(self.config, _StoppableStore(store, self.stop_event), src))  # type: ignore[arg-type]
            scan = self._scan()
            status = "stopped" if self.stop_event.is_set() else "ok"
        except Stopping:
            status = "stopped"
            raise
        finally:
            finish_cycle(store, run_id, status, ingest, scan)
            secs = time.monotonic() - started
            fields = {"job": kind, "status": status, "ingested": ingest.added, "duplicates": ingest.duplicates,
                      "ingest_errors": ingest.errors, "scanned": scan.scanned, "scan_failed": scan.failed,
                      "alerts_new": scan.alerts_new, "alerts_updated": scan.alerts_updated,
                      "ruleset": self.analyzer.ruleset.version, "seconds": round(secs, 3)}
            log.info("cycle %s %s: %d ingested, %d scanned, %d new alert(s) in %.2f s", kind, status,
                     ingest.added, scan.scanned, scan.alerts_new, secs, extra={"fields": fields})
        if scan.alerts_new and self.config.notify is not None:
            self._kick("notify")
        return Cycle(kind, ingest, scan, status, time.monotonic() - started)

    def _kick(self, job_id: str) -> None:
        try:
            self.scheduler.modify_job(job_id, next_run_time=datetime.now(timezone.utc))
        except Exception:  # the job may be gone while stopping
            pass

    def source_job(self, name: str) -> None:
        src = next(s for s in self.config.sources if s.name == name)
        self._job(f"source:{name}", lambda: self._cycle(f"source:{name}", [src]))

    def rescan_job(self) -> None:
        self._job("rescan", lambda: self._cycle("rescan", []))

    def watch_job(self) -> None:
        def body() -> None:
            now = time.monotonic()
            if now - self._last_heartbeat >= HEARTBEAT_EVERY:
                self._last_heartbeat = now
                self._set_daemon(heartbeat_at=utcnow())
            self.check_rules()
        with self._guard:
            self._busy += 1
        try:
            body()
        except Exception:
            log.exception("rules watch failed")
        finally:
            with self._guard:
                self._busy -= 1

    def check_rules(self) -> bool:
        """Reload the rules if a file changed; True when a new ruleset was handed to the scanner."""
        fp = rules_fingerprint(self.config.rules)
        if fp == self._fingerprint:
            return False
        self._fingerprint = fp
        detected = time.monotonic()
        analyzer, problems = validate_ruleset(self.config.rules)
        if analyzer is None:
            current = self.analyzer.ruleset.version if self.analyzer else "-"
            for location, message in problems:
                log.error("rules not reloaded, ruleset %s keeps running: %s", current, message,
                          extra={"fields": {"location": location}})
                self.store().record_error("rules", "reload", location.split(":")[0], message, location)
            return False
        if self.analyzer is not None and analyzer.ruleset.version == self.analyzer.ruleset.version:
            return False
        log.info("ruleset %s validated in %.0f ms (lint and %d inline test(s) passed)", analyzer.ruleset.version,
                 (time.monotonic() - detected) * 1000, sum(len(r.tests) for r in analyzer.ruleset.enabled_rules))
        self._pending = (analyzer, detected)
        self.scheduler.add_job(self.rescan_job, id="rescan", name="rescan", executor="default",
                               replace_existing=True, next_run_time=datetime.now(timezone.utc))
        self._ensure_job_row("rescan", "rescan", "after a rules change")
        return True

    def notify_job(self) -> None:
        cfg = self.config.notify
        assert cfg is not None

        def body() -> None:
            r = notify_pending(self.store(), cfg)
            if r.queued or r.sent or r.failed or r.skipped:
                log.info("notifications: %d sent, %d failed, %d skipped (re-alert window)", r.sent, r.failed,
                         r.skipped, extra={"fields": {"sent": r.sent, "failed": r.failed, "skipped": r.skipped}})
        self._job("notify", body)

    # ------------------------------------------------------------ lifecycle

    def _ensure_job_row(self, name: str, kind: str, schedule: str) -> None:
        with self.store().transaction() as db:
            db.execute("insert or ignore into jobs (name, kind, schedule) values (?, ?, ?)", [name, kind, schedule])
            db.execute("update jobs set kind = ?, schedule = ? where name = ?", [kind, schedule, name])

    def _add_jobs(self) -> None:
        now = datetime.now(timezone.utc)
        for src in self.config.sources:
            if src.cron:
                trigger: Any = CronTrigger.from_crontab(src.cron, timezone=timezone.utc)
                schedule = f"cron {src.cron} (UTC)"
            else:
                trigger = IntervalTrigger(seconds=src.every, timezone=timezone.utc)
                schedule = f"every {src.every:g} s"
            name = f"source:{src.name}"
            self.scheduler.add_job(self.source_job, trigger, args=[src.name], id=name, name=name,
                                   executor="default", next_run_time=now)
            self._ensure_job_row(name, "source", schedule)
        self.scheduler.add_job(self.watch_job, IntervalTrigger(seconds=self.config.rules_poll), id="watch",
                               name="watch", executor="watch")
        if self.config.notify is not None:
            self.scheduler.add_job(self.notify_job, IntervalTrigger(seconds=NOTIFY_EVERY), id="notify",
                                   name="notify", executor="notify", next_run_time=now)
            self._ensure_job_row("notify", "notify", f"every {NOTIFY_EVERY:g} s and after new alerts")
        if not self.config.sources:  # still scan what `monitor ingest` added
            self.scheduler.add_job(self.rescan_job, id="rescan", name="rescan", executor="default",
                                   next_run_time=now)
            self._ensure_job_row("rescan", "rescan", "at start and after a rules change")
        for job in self.scheduler.get_jobs():
            if job.id != "watch":
                self._job_row(job.id)

    def stop(self, signum: int = 0, frame: Any = None) -> None:
        """Ask every job to stop at its next article or item; the scheduler then shuts down."""
        if not self.stop_event.is_set():
            log.info("stopping (%s)", signal.Signals(signum).name if signum else "requested")
        self.stop_event.set()
        try:
            self.scheduler.shutdown(wait=False)
        except Exception:  # not running yet, or already shut down
            pass

    def _wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._guard:
                if self._busy == 0:
                    return True
            time.sleep(0.02)
        return False

    def run(self) -> int:
        with InstanceLock(self.config.database, self.config.path.resolve()):
            return self._run_locked()

    def _run_locked(self) -> int:
        analyzer, problems = validate_ruleset(self.config.rules)
        self._fingerprint = rules_fingerprint(self.config.rules)
        store = self.store()
        if analyzer is None:
            for location, message in problems:
                store.record_error("rules", "startup", location.split(":")[0], message, location)
            raise MonitorError("the rules are not valid, not starting:\n" + "\n".join(m for _, m in problems))
        self.analyzer = analyzer
        with store.transaction() as db:
            db.execute("delete from daemon")
            db.execute("insert into daemon (id, pid, host, config, started_at, heartbeat_at, status, "
                       "ruleset_version, ruleset_loaded_at) values (1, ?, ?, ?, ?, ?, 'running', ?, ?)",
                       [os.getpid(), socket.gethostname(), str(self.config.path.resolve()), utcnow(), utcnow(),
                        analyzer.ruleset.version, utcnow()])
            db.execute("delete from jobs where name = 'rescan'")
        self._add_jobs()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.stop)
        log.info("monitor started: pid %d, %d source(s), ruleset %s (%d rules), database %s", os.getpid(),
                 len(self.config.sources), analyzer.ruleset.version, len(analyzer.ruleset.enabled_rules),
                 self.config.database)
        if not self.stop_event.is_set():
            self.scheduler.start()
        if not self._wait_idle(STOP_GRACE):
            log.warning("a job did not stop within %.0f s; exiting anyway (its open transaction is rolled back)",
                        STOP_GRACE)
            os._exit(0)
        try:
            self._set_daemon(status="stopped", stopped_at=utcnow())
        finally:
            with self._guard:
                for s in self._stores:
                    try:
                        s.close()
                    except Exception:
                        pass
        log.info("monitor stopped")
        return 0

