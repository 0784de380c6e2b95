"""Shared pieces of the command line: the context object, error mapping and progress lines.

Commands live in ``cli.py`` and in ``cli_*.py`` modules that ``cli.py`` registers.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterator

import click

from .config import Config, load_config
from .errors import MonitorError
from .rules import load_rules
from .ruletypes import RuleSet
from .store import Store

__all__ = ["Ctx", "pass_ctx", "errors_to_click", "progress_printer"]


@contextmanager
def errors_to_click() -> Iterator[None]:
    try:
        yield
    except MonitorError as exc:
        raise click.ClickException(str(exc)) from exc


class Ctx:
    def __init__(self, config_path: str, db: str | None) -> None:
        self.config_path = config_path
        self.db = db
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            with errors_to_click():
                self._config = load_config(self.config_path, self.db)
        return self._config

    def store(self) -> Store:
        with errors_to_click():
            return Store.open(self.config.database)

    def ruleset(self) -> RuleSet:
        with errors_to_click():
            return load_rules(list(self.config.rules))


pass_ctx = click.make_pass_decorator(Ctx)


def progress_printer(label: str) -> Callable[[int, int], None]:
    state = {"last": 0.0}

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - state["last"] >= 2.0:
            state["last"] = now
            click.echo(f"{label}: {done:,}/{total:,} articles", err=True)

    return report
