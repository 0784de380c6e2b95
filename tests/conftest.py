"""Shared fixtures: real files, real SQLite databases, the real CLI (in process)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # the package may not be pip-installed in the test venv
    sys.path.insert(0, str(REPO))

from monitor.cli import cli  # noqa: E402


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root (absolute, resolved)."""
    return REPO


@pytest.fixture(scope="session")
def seeds(repo: Path) -> Path:
    """The shared seed articles, ``../shared/seeds`` next to the repository (CI has them)."""
    path = repo.parent / "shared" / "seeds"
    if not path.is_dir():
        pytest.fail(f"seed articles not found at {path} (CI and development keep ../shared beside the checkout)")
    return path


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str):
    """Run ``monitor ARGS`` in process; exceptions other than SystemExit propagate."""
    return runner.invoke(cli, list(args), prog_name="monitor", catch_exceptions=False)


@pytest.fixture
def demo_db(tmp_path: Path, repo: Path, runner: CliRunner) -> Path:
    """``monitor --config <repo>/config.yaml --db <tmp>/monitor.db run --once``; returns the db path."""
    db = tmp_path / "monitor.db"
    result = invoke(runner, "--config", str(repo / "config.yaml"), "--db", str(db), "run", "--once")
    assert result.exit_code == 0, result.output
    assert db.is_file()
    return db


def rows(db: Path, sql: str, params: tuple = ()) -> list[dict]:
    """Query a monitor database with plain sqlite3 (as an analyst's tool would); rows as dicts."""
    import sqlite3
    conn = sqlite3.connect(db, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


@pytest.fixture
def http_server(monkeypatch: pytest.MonkeyPatch):
    """A real HTTP server on 127.0.0.1 (tests/ingest_helpers.py) serving what each test puts on it."""
    from ingest_helpers import Server
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # the client honours proxy variables
    srv = Server()
    yield srv
    srv.close()
