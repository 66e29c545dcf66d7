"""Analysts and the writer side by side (issue 16 item 5): the read-only snapshot published after
each load, the named queries as views / table macros, and COMMENT ON every table and column."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from analytics.queries import registry, run_query
from analytics.snapshot import publish_snapshot, snapshot_path
from analytics.store import AnalyticsStore
from analytics.synthlogs import SynthConfig, write_logs
from analytics.views import MACRO_SUFFIX, PARAM_PREFIX

REPO = Path(__file__).resolve().parents[1]

UNCOMMENTED = """
    select c.table_name, c.column_name
    from duckdb_columns() as c
    join duckdb_tables() as t using (database_name, schema_name, table_name)
    where coalesce(trim(c.comment), '') = ''
    order by all
"""
UNCOMMENTED_TABLES = "select table_name from duckdb_tables() where coalesce(trim(comment), '') = ''"


def _logs(tmp_path: Path, name: str, n: int, seed: int) -> Path:
    return write_logs(tmp_path / f"{name}.jsonl", SynthConfig(n_sessions=n, seed=seed), prefix=f"{name}-")


def _assert_all_commented(con: duckdb.DuckDBPyConnection) -> None:
    assert con.execute(UNCOMMENTED_TABLES).fetchall() == []
    assert con.execute(UNCOMMENTED).fetchall() == []
    n_tables = con.execute("select count(*) from duckdb_tables()").fetchall()[0][0]
    assert n_tables >= 12


def test_every_table_and_column_has_a_comment(tmp_path: Path) -> None:
    with AnalyticsStore(tmp_path / "a.duckdb", workers=1) as store:
        _assert_all_commented(store.con)
        # spot check: the text says what the column means
        (c,) = store.con.execute("select comment from duckdb_columns() where table_name = 'sessions' "
                                 "and column_name = 'n_refined_frames'").fetchall()[0]
        assert "refine" in c


def test_old_database_gets_the_comments_by_migration(tmp_path: Path) -> None:
    from tests.test_analytics_migrations import _old_database

    db = tmp_path / "old.duckdb"
    _old_database(db)
    with AnalyticsStore(db, workers=1) as store:
        _assert_all_commented(store.con)


def test_named_queries_are_views_and_table_macros(tmp_path: Path) -> None:
    with AnalyticsStore(tmp_path / "a.duckdb", workers=1) as store:
        store.load([_logs(tmp_path, "s", 40, 1)])
        con = store.con
        views = {r[0]: r[1] for r in con.execute(
            "select view_name, comment from duckdb_views() where not internal").fetchall()}
        for name, q in registry().items():
            assert views.get(name), f"no view (or no comment) for query {name}"
            assert con.execute(f"select * from {name}").df().equals(run_query(con, name)), name
            if q.parameters:
                assert con.execute(f"select * from {name}{MACRO_SUFFIX}()").df().equals(run_query(con, name)), name
        # a parameter that is also a column name (source) filters as the named query does
        for src in ("simulated", "recorded"):
            got = con.execute(f"select * from session_patterns{MACRO_SUFFIX}({PARAM_PREFIX}source := ?)", [src]).df()
            assert got.equals(run_query(con, "session_patterns", {"source": src}))
        assert len(con.execute("select * from session_patterns").df()) == 40
        got = con.execute(f"select * from annotation_pattern{MACRO_SUFFIX}({PARAM_PREFIX}click_max_path_frac := 0.5)").df()
        assert got.equals(run_query(con, "annotation_pattern", {"click_max_path_frac": 0.5}))


ANALYST = textwrap.dedent("""
    import sys, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    def show():
        n = con.execute("select count(*) from sessions").fetchall()[0][0]
        r = con.execute("select n_sessions from refine_share").fetchall()[0][0]
        print(n, r, flush=True)
    show()
    sys.stdin.readline()   # the test loads and publishes again meanwhile
    show()
    con.close()
""")


def test_snapshot_readers_and_the_writer_do_not_block_each_other(tmp_path: Path) -> None:
    db = tmp_path / "ivos.duckdb"
    snap = snapshot_path(db)
    assert snap == tmp_path / "ivos.snapshot.duckdb"
    with AnalyticsStore(db, workers=1) as store:
        store.load([_logs(tmp_path, "a", 30, 1)])
        assert store.publish_snapshot() == snap
    # an analyst opens the snapshot read-only in their own process and keeps it open
    analyst = subprocess.Popen([sys.executable, "-c", ANALYST, str(snap)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert analyst.stdout is not None and analyst.stdin is not None
        assert analyst.stdout.readline().split() == ["30", "30"]
        # the writer loads and publishes while the analyst holds the old snapshot
        with AnalyticsStore(db, workers=1) as store:
            rep = store.load([_logs(tmp_path, "b", 20, 2)])
            assert rep.loaded == 20
            store.publish_snapshot()
            # the live database is the writer's alone; the snapshot holds the committed state
            assert store.counts()["sessions"] == 50
        # the analyst's connection still reads the old, consistent data
        analyst.stdin.write("\n")
        analyst.stdin.flush()
        assert analyst.stdout.readline().split() == ["30", "30"]
        # a new connection (a second analyst) sees the new data, views and comments included
        con = duckdb.connect(str(snap), read_only=True, config={"enable_external_access": False})
        try:
            assert con.execute("select count(*) from sessions").fetchall() == [(50,)]
            assert con.execute("select n_sessions from refine_share").fetchall() == [(50,)]
            assert con.execute(f"select n_sessions from refine_share{MACRO_SUFFIX}({PARAM_PREFIX}source := 'recorded')"
                               ).fetchall() == [(0,)]
            _assert_all_commented(con)
        finally:
            con.close()
    finally:
        out, err = analyst.communicate(timeout=60)
    assert analyst.returncode == 0, err
    # no temporary copy and no snapshot WAL is left beside the database
    assert {p.name for p in tmp_path.iterdir() if "snapshot" in p.name} == {"ivos.snapshot.duckdb"}


def test_a_failed_publish_keeps_the_old_snapshot_and_leaves_no_temp_file(tmp_path: Path, monkeypatch) -> None:
    import analytics.snapshot as snapshot_mod

    db = tmp_path / "ivos.duckdb"
    with AnalyticsStore(db, workers=1) as store:
        store.load([_logs(tmp_path, "a", 5, 1)])
        snap = store.publish_snapshot()
        store.load([_logs(tmp_path, "b", 5, 2)])

        def disk_full(src, dst):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(snapshot_mod.os, "replace", disk_full)
        with pytest.raises(OSError):
            publish_snapshot(store.con, snap)
        monkeypatch.undo()
        # the writer goes on: the failed publish left no attachment behind
        assert store.con.execute("select count(*) from duckdb_databases() where database_name like '_ivos_snapshot%'"
                                 ).fetchall() == [(0,)]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp") or ".tmp." in p.name] == []
    con = duckdb.connect(str(snap), read_only=True)
    try:
        assert con.execute("select count(*) from sessions").fetchall() == [(5,)]
    finally:
        con.close()


def test_cli_load_publishes_the_snapshot(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from flows.cli_analytics import analytics_app

    db = tmp_path / "cli.duckdb"
    logs = _logs(tmp_path, "c", 7, 3)
    res = CliRunner().invoke(analytics_app, ["load", str(logs), "--db", str(db), "--workers", "1"])
    assert res.exit_code == 0, res.output
    con = duckdb.connect(str(snapshot_path(db)), read_only=True)
    try:
        assert con.execute("select count(*) from sessions").fetchall() == [(7,)]
    finally:
        con.close()
    res = CliRunner().invoke(analytics_app, ["load", str(logs), "--db", str(tmp_path / "n.duckdb"),
                                             "--workers", "1", "--no-snapshot"])
    assert res.exit_code == 0, res.output
    assert not snapshot_path(tmp_path / "n.duckdb").exists()


def test_refresh_flow_publishes_the_snapshot(tmp_path: Path) -> None:
    from flows.analytics_refresh import load_logs

    db = tmp_path / "analytics" / "ivos.duckdb"
    logs = _logs(tmp_path, "f", 6, 4)
    out = load_logs.fn(str(db), [str(logs)], [], [])
    assert out["sessions"]["loaded"] == 6
    con = duckdb.connect(str(snapshot_path(db)), read_only=True)
    try:
        assert con.execute("select count(*) from sessions").fetchall() == [(6,)]
    finally:
        con.close()
