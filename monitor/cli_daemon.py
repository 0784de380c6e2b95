"""Commands around the daemon: ``monitor status`` and ``monitor backup``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .clictx import Ctx, errors_to_click, pass_ctx
from .instance import InstanceLock

__all__ = ["status", "backup"]


def _table(rows: list[dict], cols: list[str]) -> list[str]:
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in cols] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
    out = ["  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip()]
    out += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return out


@click.command()
@click.option("--errors", "n_errors", default=5, show_default=True, help="How many recent errors to show.")
@click.option("--cycles", "n_cycles", default=10, show_default=True, help="How many recent cycles to show.")
@pass_ctx
def status(obj: Ctx, n_errors: int, n_cycles: int) -> None:
    """Show the daemon, its jobs (last and next run), recent cycles and errors.

    Exits 1 when the most recent finished cycle failed (for cron or a health check).
    """
    config = obj.config
    if not Path(config.database).exists():
        raise click.ClickException(f"{config.database}: no such database (run 'monitor run' first)")
    with obj.store() as store, errors_to_click():
        running = InstanceLock(config.database).is_held()
        d = store.query("select * from daemon where id = 1")
        if d:
            row = d[0]
            state = "running" if running else ("stopped" if row["status"] == "stopped" else "not running (exited "
                                                                                            "without a clean stop)")
            click.echo(f"daemon: {state}; pid {row['pid']} on {row['host']}, started {row['started_at']}, "
                       f"last heartbeat {row['heartbeat_at']}" + (f", stopped {row['stopped_at']}"
                                                                  if row["stopped_at"] else ""))
            click.echo(f"ruleset: {row['ruleset_version']} (active since {row['ruleset_loaded_at']})")
        else:
            click.echo("daemon: never started on this database" + (" (a monitor holds it now)" if running else ""))
        jobs = store.query("select name as job, schedule, last_started_at as last_run, last_status as status, "
                           "next_run_at as next_run, last_ingested as ingested, last_scanned as scanned, "
                           "last_alerts_new as new_alerts, runs_ok as ok, runs_failed as failed "
                           "from jobs order by name")
        if jobs:
            click.echo("\njobs:")
            for line in _table(jobs, list(jobs[0])):
                click.echo("  " + line)
        runs = store.query("select id, kind as job, started_at, finished_at, status, ruleset_version as ruleset, "
                           "articles_ingested as ingested, articles_scanned as scanned, alerts_new as new_alerts, "
                           "errors from runs order by id desc limit ?", [n_cycles])
        if runs:
            click.echo("\nrecent cycles:")
            for line in _table(runs, list(runs[0])):
                click.echo("  " + line)
        errors = store.query("select at, stage, source, item, location, reason from errors order by id desc "
                             "limit ?", [n_errors])
        if errors:
            click.echo("\nrecent errors:")
            for e in errors:
                where = e["location"] or e["item"]
                click.echo(f"  {e['at']} {e['stage']} {e['source']} {where}: {e['reason']}")
        last = store.query("select id, kind, status from runs where status != 'running' order by id desc limit 1")
        if last and last[0]["status"] == "failed":
            click.echo(f"\nlast cycle failed: run {last[0]['id']} ({last[0]['kind']})", err=True)
            sys.exit(1)


@click.command()
@click.argument("dest", type=click.Path(path_type=Path))
@pass_ctx
def backup(obj: Ctx, dest: Path) -> None:
    """Copy the database to DEST with SQLite's online backup API (safe while the monitor runs)."""
    if dest.exists():
        raise click.ClickException(f"{dest}: already exists; choose a new file name")
    if not Path(obj.config.database).exists():
        raise click.ClickException(f"{obj.config.database}: no such database")
    with obj.store() as store, errors_to_click():
        store.backup(dest)
        n = store.count("articles"), store.count("alerts")
    click.echo(f"backed up {obj.config.database} to {dest} ({n[0]:,} articles, {n[1]:,} alerts)")
