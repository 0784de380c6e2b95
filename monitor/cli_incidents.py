"""``monitor incidents ...``: maintenance of the incident grouping (review is done with sqlite-utils)."""

from __future__ import annotations

import click

from .clictx import Ctx, errors_to_click, pass_ctx, progress_printer
from .incidents import Grouper

__all__ = ["incidents"]


@click.group()
def incidents() -> None:
    """Incidents: one row per real-world event (see the incidents_review view)."""


@incidents.command("rebuild")
@pass_ctx
def incidents_rebuild(obj: Ctx) -> None:
    """Regroup every alert into incidents (after changing incident_window_days or the rules)."""
    ruleset = obj.ruleset()
    with obj.store() as store, errors_to_click():
        n = Grouper(ruleset, obj.config.incident_window_days).rebuild(store, progress_printer("grouping"))
        count = store.count("incidents")
        click.echo(f"regrouped {n:,} article(s) with alerts into {count:,} incident(s)")
        click.echo(f"review: sqlite-utils rows {store.path} incidents_review --table")
