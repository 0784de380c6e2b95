"""``monitor sources``: the configured sources with their state, and ``--retry`` for a given-up feed."""

from __future__ import annotations

import click

from .clictx import Ctx, errors_to_click, pass_ctx

__all__ = ["sources"]


@click.command()
@click.option("--retry", "retry", multiple=True, metavar="NAME",
              help="Clear the backoff or give-up state of this source so the next cycle fetches it.")
@pass_ctx
def sources(obj: Ctx, retry: tuple[str, ...]) -> None:
    """List the configured sources: last success, last error, article counts."""
    config = obj.config
    names = {s.name for s in config.sources}
    for name in retry:
        if name not in names:
            raise click.ClickException(f"{config.path}: no source named '{name}' (configured: "
                                       f"{', '.join(sorted(names)) or 'none'})")
    with obj.store() as store, errors_to_click():
        for name in retry:
            store.update_source_state(name, failures=0, next_try_at=None, gave_up_at=None)
            click.echo(f"{name}: will be fetched on the next cycle")
        counts = {r["source"]: r["n"] for r in store.query(
            "select source, count(distinct article_id) as n from article_sources group by source")}
        for src in config.sources:
            st = store.source_state(src.name)
            where = src.url if src.kind == "feed" else str(src.path)
            click.echo(f"{src.name} ({src.kind}) {where}")
            status = "gave up (permanent failure)" if st.get("gave_up_at") else \
                f"backing off until {st['next_try_at']}" if st.get("next_try_at") else \
                "never run" if not st else "ok"
            click.echo(f"  status: {status}; articles carried: {counts.get(src.name, 0):,} "
                       f"(added {st.get('articles_added') or 0:,}, duplicates {st.get('duplicates') or 0:,}, "
                       f"errors {st.get('errors') or 0:,})")
            click.echo(f"  last success: {st.get('last_success_at') or '-'}")
            click.echo(f"  last error: {st.get('last_error_at') or '-'} {st.get('last_error') or ''}".rstrip())
