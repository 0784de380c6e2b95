"""The README's commands keep working: review recipes, Quickstart, command list."""

from __future__ import annotations

import re
import shlex
import sqlite3
import subprocess
from pathlib import Path

import click
import pytest

from monitor.cli import cli
from test_seeds import sqlite_utils_cli


def sh_blocks(markdown: str) -> list[list[str]]:
    """The non-empty lines of every ```sh fenced block, in order."""
    return [[l for l in m.group(1).splitlines() if l.strip()]
            for m in re.finditer(r"^```sh\n(.*?)^```", markdown, re.S | re.M)]


def section(markdown: str, heading: str) -> str:
    m = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", markdown, re.S | re.M)
    assert m, f"README has no '## {heading}' section"
    return m.group(1)


@pytest.fixture(scope="module")
def readme(repo: Path) -> str:
    return (repo / "README.md").read_text(encoding="utf-8")


def recipes(readme: str) -> list[str]:
    return [l for block in sh_blocks(readme) for l in block if l.startswith("sqlite-utils ")]


def one(db: Path, sql: str, params: tuple = ()) -> dict:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return dict(conn.execute(sql, params).fetchone())
    finally:
        conn.close()


def test_readme_has_review_recipes(readme):
    rs = recipes(readme)
    assert len(rs) >= 5, rs
    assert any(" alerts_review " in r and r.endswith("--table") for r in rs)
    assert sum("update alerts set" in r for r in rs) >= 2


def test_review_recipes_run_against_a_real_demo_database(readme, demo_db):
    exe = sqlite_utils_cli()
    alert_id = one(demo_db, "select alert from alerts_review where level = 'high' limit 1")["alert"]
    ran = 0
    for recipe in recipes(readme):
        argv = [exe] + [str(demo_db) if a == "monitor.db" else alert_id if a == "ALERT_ID" else a
                        for a in shlex.split(recipe)[1:]]
        assert str(demo_db) in argv, recipe
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{recipe}\n{proc.stdout}\n{proc.stderr}"
        ran += 1
        m = re.search(r"update alerts set status = '(\w+)', note = '([^']*)'", recipe)
        if m:
            assert "ALERT_ID" in recipe
            row = one(demo_db, "select status, note from alerts where id = ?", (alert_id,))
            assert row == {"status": m.group(1), "note": m.group(2)}, (recipe, row)
        elif shlex.split(recipe)[1:4] == ["rows", "monitor.db", "alerts_review"] and recipe.endswith(
                "alerts_review --table"):
            assert re.search(r"\bhigh\b", proc.stdout), proc.stdout
            assert alert_id in proc.stdout
        elif "--where" in recipe and "alerts_review" in recipe:
            assert proc.stdout.strip(), f"{recipe} listed nothing on the demo database"
    assert ran == len(recipes(readme))


def test_quickstart_is_two_commands_and_ci_runs_the_second(readme, repo):
    blocks = sh_blocks(section(readme, "Quickstart"))
    assert len(blocks) == 2, blocks
    assert all(len(b) == 1 for b in blocks), blocks
    ci = [l for l in (repo / ".ci" / "run").read_text(encoding="utf-8").splitlines() if l.strip()]
    assert blocks[1][0] == ci[-1]
    assert blocks[0][0].endswith("monitor run --once")


def _commands(group: click.Group, prefix: str) -> list[str]:
    out = []
    for name, cmd in sorted(group.commands.items()):
        full = f"{prefix} {name}"
        out.append(full)
        if isinstance(cmd, click.Group):
            out.extend(_commands(cmd, full))
    return out


def test_every_cli_command_is_documented(readme):
    commands = _commands(cli, "monitor")
    assert "monitor rules lint" in commands and "monitor run" in commands
    missing = [c for c in commands if c not in readme]
    assert not missing, f"commands not mentioned in README.md: {missing}"
