"""The CLI's exit codes and exact error lines, and ingest's tolerance of bad input."""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

import pytest

from conftest import invoke


def lines(output: str) -> list[str]:
    return output.splitlines()


def rows(db: Path, sql: str) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql).fetchall()]
    finally:
        conn.close()


@pytest.fixture
def cfg(repo: Path) -> list[str]:
    return ["--config", str(repo / "config.yaml")]


@pytest.fixture
def in_tmp(tmp_path: Path):
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)


# ------------------------------------------------------------------ config errors

def test_missing_config_file(runner, in_tmp):
    r = invoke(runner, "--config", "nope.yaml", "scan")
    assert r.exit_code == 1
    assert any(l.startswith("Error: nope.yaml: config file not found") for l in lines(r.output)), r.output
    assert "Traceback" not in r.output


def test_config_unknown_key_reports_path_line_col(runner, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("database: x.db\nrules:\n  - rules\nbogus_setting: 3\n", encoding="utf-8")
    r = invoke(runner, "--config", str(config), "scan")
    assert r.exit_code == 1
    errs = [l for l in lines(r.output) if l.startswith("Error:")]
    assert len(errs) == 1, r.output
    assert errs[0].startswith(f"Error: {config}:4:1: unknown setting 'bogus_setting'"), errs[0]


def test_ingest_missing_path(runner, cfg, tmp_path):
    missing = tmp_path / "not-there"
    r = invoke(runner, *cfg, "--db", str(tmp_path / "m.db"), "ingest", str(missing))
    assert r.exit_code == 1
    assert f"Error: {missing}: no such file or folder" in lines(r.output), r.output


# ------------------------------------------------------------------ rules lint / test

BROKEN_RULE = """\
kind: rule
id: broken_rule
title: Broken
level: high
scope: sentence
bogus: 1
patterns:
  a: {list: no_such_list}
match:
  all: [a, b]
"""


def test_rules_lint_broken_file(runner, cfg, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN_RULE, encoding="utf-8")
    r = invoke(runner, *cfg, "rules", "lint", str(path))
    assert r.exit_code == 1, r.output
    out = lines(r.output)
    located = [l for l in out if l.startswith(f"{path}:")]
    assert any(re.match(rf"{re.escape(str(path))}:6:1: .*unknown key 'bogus'", l) for l in located), r.output
    assert any(re.match(rf"{re.escape(str(path))}:8:\d+: .*unknown list 'no_such_list'", l) for l in located), r.output
    assert any(re.match(rf"{re.escape(str(path))}:10:\d+: .*unknown pattern 'b'", l) for l in located), r.output
    for l in located:
        assert re.match(rf"{re.escape(str(path))}:\d+:\d+: \S", l), l
    summary = out[-1]
    m = re.fullmatch(r"1 file\(s\), 1 rule\(s\), 0 list\(s\): (\d+) error\(s\), (\d+) warning\(s\)", summary)
    assert m, summary
    assert int(m.group(1)) >= 3
    assert int(m.group(1)) + int(m.group(2)) == len(located)


def test_rules_lint_default_rules_clean(runner, cfg):
    r = invoke(runner, *cfg, "rules", "lint")
    assert r.exit_code == 0, r.output
    assert re.search(r": 0 error\(s\), \d+ warning\(s\)$", lines(r.output)[-1]), r.output


def test_rules_test_default_rules_pass(runner, cfg):
    r = invoke(runner, *cfg, "rules", "test")
    assert r.exit_code == 0, r.output
    out = lines(r.output)
    assert out[0].split() == ["rule", "tests", "pass", "fail", "TP", "TN", "FP", "FN"]
    matrix = {l.split()[0]: l.split()[1:] for l in out[1:-1]}
    assert "arms_transfer_embargoed_state" in matrix
    total = 0
    for rule, cols in matrix.items():
        tests, passed, failed = map(int, cols[:3])
        assert failed == 0 and passed == tests, (rule, cols)
        total += tests
    m = re.fullmatch(r"(\d+) passed, 0 failed", out[-1])
    assert m and int(m.group(1)) == total > 0, out[-1]
    assert "FAIL" not in r.output


FAILING_TEST_RULE = """\
kind: rule
id: failing_rule
title: Failing
level: high
scope: sentence
patterns:
  rockets: {terms: [rockets]}
match:
  all: [rockets]
message: "rockets"
tests:
  - {text: "The rockets arrived.", match: true}
  - {text: "Nothing to see here.", match: true}
"""


def test_rules_test_failing_inline_test(runner, cfg, tmp_path):
    path = tmp_path / "failing.yaml"
    path.write_text(FAILING_TEST_RULE, encoding="utf-8")
    r = invoke(runner, *cfg, "rules", "test", str(path))
    assert r.exit_code == 1, r.output
    fails = [l for l in lines(r.output) if l.startswith("FAIL ")]
    assert len(fails) == 1, r.output
    assert fails[0].startswith(f"FAIL {path}:13:"), fails[0]
    assert re.match(rf"FAIL {re.escape(str(path))}:13:\d+: rule 'failing_rule' test 2: ", fails[0]), fails[0]
    assert lines(r.output)[-1] == "1 passed, 1 failed"


# ------------------------------------------------------------------ rules explain

def test_rules_explain_fires(runner, cfg):
    text = "Russia is buying rockets from North Korea."
    r = invoke(runner, *cfg, "rules", "explain", "arms_transfer_embargoed_state", "--text", text)
    assert r.exit_code == 0, r.output
    assert "FIRES" in r.output
    # hit spans are offsets into the text
    for term, pid in (("North Korea", "PRK"), ("rockets", None), ("buying", None)):
        start = text.index(term)
        assert f"'{term}'" in r.output and f"@{start}-{start + len(term)}" in r.output, (term, r.output)
    assert "-> PRK @30-41" in r.output
    assert lines(r.output)[-1].startswith("result: rule fires")


def test_rules_explain_judges_regimes_on_the_given_date(runner, cfg):
    text = "Iran shipped attack drones to Russia."

    def regimes(date: str) -> str:
        r = invoke(runner, *cfg, "rules", "explain", "arms_transfer_embargoed_state", "--text", text,
                   "--published-at", date)
        assert r.exit_code == 0, r.output
        return next(l for l in lines(r.output) if l.strip().startswith("regimes in force"))

    in_2021, in_2026 = regimes("2021-06-01"), regimes("2026-01-01")
    assert "2231" in in_2021 and in_2021 != in_2026  # resolution 2231's restrictions, then the snapback
    r = invoke(runner, *cfg, "rules", "explain", "arms_transfer_embargoed_state", "--text", text,
               "--published-at", "someday")
    assert r.exit_code == 2 and "not a date" in r.output


def test_rules_explain_unknown_rule(runner, cfg):
    r = invoke(runner, *cfg, "rules", "explain", "no_such_rule", "--text", "anything")
    assert r.exit_code == 1
    assert any(l.startswith("Error: unknown rule 'no_such_rule'") for l in lines(r.output)), r.output


def test_run_daemon_refuses_to_start_on_invalid_rules(runner, repo, tmp_path):
    # The daemon itself is tested as a real process in test_daemon_*.py.
    config = tmp_path / "config.yaml"
    config.write_text(f"rules: [{repo / 'tests' / 'data' / 'rules' / 'invalid' / 'bad_regex.yaml'}]\n")
    r = invoke(runner, "--config", str(config), "--db", str(tmp_path / "m.db"), "run")
    assert r.exit_code == 1
    assert "the rules are not valid, not starting" in r.output
    assert "bad_regex.yaml:" in r.output


# ------------------------------------------------------------------ bad input never stops ingest

def test_bad_input_is_recorded_and_never_stops_ingest(runner, cfg, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a-good.txt").write_text("Good title\nRussia is buying rockets from North Korea, officials said.\n",
                                    encoding="utf-8")
    (src / "b-empty.txt").write_bytes(b"")
    (src / "c-binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01")
    (src / "d-feed.jsonl").write_text(
        '{"title": "Alpha", "text": "Alpha article text."}\n'
        '{"title": "Broken", "text": \n'
        '{"title": "Gamma", "text": "Gamma article text."}\n', encoding="utf-8")
    (src / "e-utf16.txt").write_bytes(
        "Iran drones title\nIran shipped drones to Russia, officials say.\n".encode("utf-16"))
    assert (src / "e-utf16.txt").read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff")

    db = tmp_path / "m.db"
    r = invoke(runner, *cfg, "--db", str(db), "ingest", str(src))
    assert r.exit_code == 0, r.output
    assert "ingested 4 new article(s) from 5 file(s) (0 already stored, 3 error(s))" in r.output

    arts = {a["title"]: a for a in rows(db, "select title, text, format from articles")}
    assert set(arts) == {"Good title", "Alpha", "Gamma", "Iran drones title"}
    assert arts["Iran drones title"]["text"] == "Iran shipped drones to Russia, officials say."
    assert "\x00" not in arts["Iran drones title"]["text"]

    errors = rows(db, "select stage, item, reason from errors order by item")
    assert len(errors) == 3, errors
    by_item = {Path(e["item"]).name: e for e in errors}
    assert all(e["stage"] == "ingest" and e["reason"] for e in errors)
    assert "empty" in by_item["b-empty.txt"]["reason"]
    assert "binary" in by_item["c-binary.txt"]["reason"]
    assert by_item["d-feed.jsonl:2"]["item"].endswith("d-feed.jsonl:2")
    assert "invalid JSON line" in by_item["d-feed.jsonl:2"]["reason"]


@pytest.mark.parametrize("parts", [("work", "..", "articles"), (".hidden-parent", "articles")],
                         ids=["dotdot", "hidden-parent"])
def test_ingest_folder_path_containing_dot_parts(runner, cfg, tmp_path, parts):
    """A folder reached through '..' (e.g. ../shared/seeds) or under a hidden parent folder
    (e.g. ~/.local/share/...) must ingest its files: only hidden names *inside* the folder are skipped."""
    folder = tmp_path.joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    (tmp_path / "work").mkdir(exist_ok=True)
    (folder.resolve() / "one.txt").write_text("A title\nRussia is buying rockets from North Korea.\n",
                                              encoding="utf-8")
    db = tmp_path / "m.db"
    r = invoke(runner, *cfg, "--db", str(db), "ingest", str(folder))
    assert r.exit_code == 0, r.output
    assert "ingested 1 new article(s) from 1 file(s)" in r.output, r.output
