"""`ivos analytics load --json`: one JSON document on stdout, exit 1 when a record is quarantined."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tests.test_analytics_store import jsonl, session

KEYS = {"db", "kind", "loaded", "unchanged", "quarantined", "files_loaded", "files_skipped", "snapshot"}


def _load(*args: str):
    from flows.cli import app

    return CliRunner().invoke(app, ["analytics", "load", *args])


def test_load_json_counts_and_exit_0_when_all_load(tmp_path: Path) -> None:
    f = jsonl(tmp_path / "ok.jsonl", [json.dumps(session("a")), json.dumps(session("b"))])
    db = tmp_path / "a.duckdb"
    res = _load(str(f), "--db", str(db), "--workers", "1", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)  # stdout holds the document and nothing else
    assert set(doc) == KEYS
    assert (doc["loaded"], doc["quarantined"], doc["files_loaded"], doc["kind"]) == (2, 0, 1, "sessions")
    assert doc["snapshot"] and Path(doc["snapshot"]).is_file()
    assert "load into" in res.stderr  # the human table went to stderr
    again = _load(str(f), "--db", str(db), "--workers", "1", "--json")  # nothing new: still exit 0
    assert again.exit_code == 0 and json.loads(again.stdout)["files_skipped"] == 1


def test_load_exits_1_when_a_record_is_quarantined(tmp_path: Path) -> None:
    f = jsonl(tmp_path / "mixed.jsonl", [json.dumps(session("good")), '{"session_id": "trunc', json.dumps(session("g2"))])
    db = tmp_path / "a.duckdb"
    res = _load(str(f), "--db", str(db), "--workers", "1", "--json")
    assert res.exit_code == 1, res.output
    doc = json.loads(res.stdout)
    assert (doc["loaded"], doc["quarantined"]) == (2, 1)
    plain = _load(str(jsonl(tmp_path / "bad2.jsonl", ["[1, 2]"])), "--db", str(db), "--workers", "1")
    assert plain.exit_code == 1 and "quarantined" in plain.stdout  # without --json: the table, same exit code


def test_load_help_lists_kinds_and_exit_codes() -> None:
    res = CliRunner().invoke(__import__("flows.cli", fromlist=["app"]).app, ["analytics", "load", "--help"],
                             env={"COLUMNS": "400"})
    assert res.exit_code == 0
    assert "sessions|jobs|evals" in res.stdout and "--json" in res.stdout
    assert "Exit codes" in res.stdout and "quarantined" in res.stdout
