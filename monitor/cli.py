"""The ``monitor`` command line: a thin click layer over the library."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from .cli_incidents import incidents
from .clictx import Ctx, errors_to_click, pass_ctx, progress_printer
from .explain import explain as explain_rule
from .pipeline import Analyzer
from .rules import lint_rules, load_rules
from .ruletest import run_rule_tests
from .ruletypes import LEVELS, RuleSet
from .daemon import Daemon
from .instance import InstanceLock
from .logs import LOG_FORMATS, setup_logging
from .scan import ScanReport, ingest_paths, lookback_since, run_once, scan_pending
from .store import Store

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", default="config.yaml", show_default=True, envvar="MONITOR_CONFIG",
              help="Config file; paths in it are relative to its folder.")
@click.option("--db", default=None, help="SQLite database file (overrides 'database' in the config).")
@click.option("-v", "--verbose", is_flag=True, help="Log debug details to stderr.")
@click.version_option(package_name="monitor")
@click.pass_context
def cli(ctx: click.Context, config_path: str, db: str | None, verbose: bool) -> None:
    """Sanctions-violation monitor: YAML rules scan news articles into alerts in SQLite.

    Review alerts with the sqlite-utils CLI, for example:
    sqlite-utils rows monitor.db alerts_review --table
    """
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(message)s")
    ctx.obj = Ctx(config_path, db)


def _print_scan(store: Store, ruleset: RuleSet, s: ScanReport, since_run: str) -> None:
    click.echo(f"scanned {s.scanned:,} article(s) with ruleset {ruleset.version} "
               f"({len(ruleset.enabled_rules)} rules): {s.alerts_new:,} new alert(s), "
               f"{s.alerts_updated:,} updated" + (f", {s.failed:,} failed" if s.failed else ""))
    if s.by_level:
        levels = ", ".join(f"{lvl} {s.by_level[lvl]}" for lvl in reversed(LEVELS) if s.by_level[lvl])
        rules = ", ".join(f"{r} {n}" for r, n in sorted(s.by_rule.items()))
        click.echo(f"alerts by level: {levels}")
        click.echo(f"alerts by rule: {rules}")
    incidents = store.query(
        "select i.level, i.rule_id as rule, i.articles, i.sources, i.corroborated, a.message from incidents i "
        "left join alerts a on a.id = i.evidence_alert where i.updated_at >= ? "
        "order by i.severity desc, i.sources desc, i.last_seen desc", [since_run])
    if incidents:
        click.echo(f"incidents updated: {len(incidents):,} (one per event: rule, supplier, recipient, kind of item)")
    for r in incidents[:15]:
        msg = r["message"] or ""
        msg = msg if len(msg) <= 90 else msg[:87] + "..."
        extra = ", corroborated" if r["corroborated"] else ""
        click.echo(f"  [{r['level']:>8}] {r['rule']}: {msg} [{r['articles']} article(s), "
                   f"{r['sources']} source(s){extra}]")
    if len(incidents) > 15:
        click.echo(f"  ... and {len(incidents) - 15:,} more")
    db = store.path
    click.echo(f"review: sqlite-utils rows {db} incidents_review --table -c incident -c level -c rule "
               f"-c supplier -c recipient -c articles -c sources -c evidence")
    click.echo(f"        sqlite-utils rows {db} alerts_review --table")


@cli.command()
@click.option("--once", is_flag=True, help="Run one cycle (ingest every source, then scan) and exit.")
@click.option("--log-format", type=click.Choice(LOG_FORMATS), default="text", show_default=True,
              help="Daemon log lines on stderr: readable text or one JSON object per line.")
@click.pass_context
def run(click_ctx: click.Context, once: bool, log_format: str) -> None:
    """Run until stopped (SIGTERM/Ctrl-C): each source on its schedule, then a scan; rules reload live.

    With --once: ingest every configured source, scan new articles into alerts, and exit.
    Rescans for a changed ruleset cover the last 'rescan_days' days (config); newer articles are
    always scanned.
    """
    obj: Ctx = click_ctx.find_object(Ctx)
    config = obj.config
    if not once:
        setup_logging(log_format, verbose=click_ctx.find_root().params.get("verbose", False))
        with errors_to_click():
            sys.exit(Daemon(config).run())
    ruleset = obj.ruleset()
    with errors_to_click(), InstanceLock(config.database, config.path.resolve()), obj.store() as store:
        started = store.query("select strftime('%Y-%m-%dT%H:%M:%SZ','now') as t")[0]["t"]
        ingest, scan = run_once(config, store, Analyzer(ruleset), progress_printer("scanning"),
                                since=lookback_since(config.rescan_days))
        click.echo(f"ingested {ingest.added:,} new article(s) from {len(config.sources)} source(s) "
                   f"({ingest.duplicates:,} already stored, {ingest.errors:,} error(s))")
        _print_scan(store, ruleset, scan, started)
        if ingest.errors or scan.failed:
            click.echo(f"errors: sqlite-utils rows {store.path} errors_recent --table", err=True)


@cli.command()
@click.argument("targets", nargs=-1, required=True)
@click.option("--source", default="cli", show_default=True, help="Source name recorded on the articles.")
@pass_ctx
def ingest(obj: Ctx, targets: tuple[str, ...], source: str) -> None:
    """Add article files or folders (.txt .md .html .json .jsonl .eml), or fetch web pages (http/https URLs)."""
    from .sources import ingest_url
    urls = [t for t in targets if "://" in t]
    paths = [Path(t) for t in targets if "://" not in t]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise click.ClickException(f"{missing[0]}: no such file or folder")
    with obj.store() as store, errors_to_click():
        r = ingest_paths(store, paths, source, obj.config.max_file_bytes if Path(obj.config_path).exists()
                         else 5_000_000)
        for url in urls:
            r.add(ingest_url(obj.config, store, url, source))
        click.echo(f"ingested {r.added:,} new article(s) from {r.files:,} file(s) "
                   f"({r.duplicates:,} already stored, {r.errors:,} error(s))")
        if r.errors:
            click.echo(f"errors: sqlite-utils rows {store.path} errors_recent --table", err=True)


@cli.command()
@click.option("--all", "all_", is_flag=True, help="Rescan every article, not only the 'rescan_days' window.")
@pass_ctx
def scan(obj: Ctx, all_: bool) -> None:
    """Scan every article not yet scanned by the current ruleset.

    Articles scanned by an older ruleset are rescanned only when published in the last
    'rescan_days' days (config), unless --all.
    """
    ruleset = obj.ruleset()
    since = None if all_ else lookback_since(obj.config.rescan_days)
    with obj.store() as store, errors_to_click():
        started = store.query("select strftime('%Y-%m-%dT%H:%M:%SZ','now') as t")[0]["t"]
        report = scan_pending(store, Analyzer(ruleset), obj.config.scan_batch, progress_printer("scanning"),
                              since=since, incident_window_days=obj.config.incident_window_days)
        _print_scan(store, ruleset, report, started)


@cli.group()
def rules() -> None:
    """Lint, test, explain and show rules."""


def _rule_paths(obj: Ctx, paths: tuple[str, ...]) -> list[str | Path]:
    return list(paths) if paths else list(obj.config.rules)


@rules.command("lint")
@click.argument("paths", nargs=-1)
@pass_ctx
def rules_lint(obj: Ctx, paths: tuple[str, ...]) -> None:
    """Report every problem in every rule file as path:line:col: message (exit 1 on errors)."""
    ruleset, issues = lint_rules(_rule_paths(obj, paths))
    for issue in issues:
        click.echo(str(issue))
    errors = sum(1 for i in issues if i.severity == "error")
    warnings = len(issues) - errors
    click.echo(f"{len(ruleset.files)} file(s), {len(ruleset.rules)} rule(s), {len(ruleset.lists)} list(s): "
               f"{errors} error(s), {warnings} warning(s)")
    if errors:
        sys.exit(1)


@rules.command("test")
@click.argument("paths", nargs=-1)
@click.option("--rule", "rule_ids", multiple=True, help="Only this rule (repeatable).")
@pass_ctx
def rules_test(obj: Ctx, paths: tuple[str, ...], rule_ids: tuple[str, ...]) -> None:
    """Run every rule's inline tests through the production pipeline; print a pass/fail matrix."""
    with errors_to_click():
        ruleset = load_rules(_rule_paths(obj, paths))
        results = run_rule_tests(ruleset, rule_ids=list(rule_ids) or None)
    width = max([len(r.id) for r in ruleset.enabled_rules] + [4])
    click.echo(f"{'rule':<{width}}  tests  pass  fail   TP   TN   FP   FN")
    for rule in ruleset.enabled_rules:
        rs = [r for r in results if r.rule == rule.id]
        if rule_ids and rule.id not in rule_ids:
            continue
        count = {k: sum(1 for r in rs if r.outcome == k) for k in ("TP", "TN", "FP", "FN")}
        fails = sum(1 for r in rs if not r.passed)
        click.echo(f"{rule.id:<{width}}  {len(rs):>5}  {len(rs) - fails:>4}  {fails:>4}  "
                   f"{count['TP']:>3}  {count['TN']:>3}  {count['FP']:>3}  {count['FN']:>3}")
    failed = [r for r in results if not r.passed]
    for r in failed:
        click.echo(f"FAIL {r.test.location}: rule '{r.rule}' test {r.index + 1}: {r.reason}")
    click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed:
        sys.exit(1)


@rules.command("explain")
@click.argument("rule_id")
@click.option("--text", help="Text to explain against.")
@click.option("--file", "file_", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Article file to explain against (.txt .md .html .json .jsonl; first article).")
@click.option("--rules", "rule_paths", multiple=True, help="Rule files or folders (default: from config).")
@click.option("--published-at", "published_at", metavar="DATE",
              help="Publication date to judge regimes in force by (default: the article's, else today).")
@pass_ctx
def rules_explain(obj: Ctx, rule_id: str, text: str | None, file_: Path | None, rule_paths: tuple[str, ...],
                  published_at: str | None) -> None:
    """Show per-pattern hits, exceptions and why RULE_ID did or did not fire."""
    if (text is None) == (file_ is None):
        raise click.UsageError("give exactly one of --text or --file")
    from .clean import parse_date
    date = parse_date(published_at) if published_at else ""
    if published_at and not date:
        raise click.UsageError(f"--published-at: not a date: {published_at!r} (for example 2024-03-05)")
    title = published = ""
    if file_ is not None:
        from .ingest import ArticleIn, read_path, make_record
        items = [i for i in read_path(file_) if isinstance(i, ArticleIn)]
        if not items:
            raise click.ClickException(f"{file_}: no readable article in the file")
        rec = make_record(items[0], "cli")
        text, title, published = rec["text"], rec["title"], rec["published_at"]
    published = date or published
    with errors_to_click():
        ruleset = load_rules(_rule_paths(obj, rule_paths))
        for line in explain_rule(Analyzer(ruleset), rule_id, text or "", title, published):
            click.echo(line)


@rules.command("show")
@click.argument("paths", nargs=-1)
@pass_ctx
def rules_show(obj: Ctx, paths: tuple[str, ...]) -> None:
    """Print the compiled durable-rules ruleset (JSON)."""
    from .engine import compile_ruleset
    with errors_to_click():
        ruleset = load_rules(_rule_paths(obj, paths))
    click.echo(json.dumps(compile_ruleset(ruleset), indent=2, sort_keys=True))


from .cli_sources import sources  # noqa: E402

cli.add_command(sources)
cli.add_command(incidents)
from .cli_daemon import backup, status  # noqa: E402  (commands in their own module)

cli.add_command(status)
cli.add_command(backup)


def main() -> None:
    cli(prog_name="monitor")
