"""Migrations: a DuckDB file made with the schema before object ids opens, migrates and keeps its rows."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from analytics.migrations import LATEST, applied_versions
from analytics.queries import run_sql_tests
from analytics.store import AnalyticsStore

OLD_SCHEMA = Path(__file__).parent / "data" / "analytics_schema_v1.sql"
T0 = "2026-03-01 10:00:00+00"


def _old_database(path: Path) -> None:
    """The schema before migration 2 with one session (one frame, one iteration, two inputs) and one job."""
    con = duckdb.connect(str(path))
    con.execute(OLD_SCHEMA.read_text(encoding="utf-8"))
    con.execute(f"""insert into sessions values ('old-1', 'u1', '{T0}', '1.0', 'recorded', 'v/a.mp4', 854, 480, 50,
        null, null, null, 1, 0, 1, 2, '{{}}', 'abc', 'logs/old.jsonl', 1, '{T0}')""")
    con.execute("insert into frames values ('old-1', 0, 0, 'first_frame', 1, 2)")
    con.execute("insert into iterations values ('old-1', 0, 0, 2, 2, 0, 1.5)")
    for k, x in enumerate((100.0, 300.0)):
        con.execute(f"""insert into inputs values ('old-1', 0, 0, {k}, 'click', true, null, {x}, 50, 1, 0, 0, 0, 0,
            null, 0, 0, 0, 0)""")
    con.execute(f"""insert into job_results values ('old-1', 'm-1', null, 'ok', null, '{T0}', 2.5, 'cpu', 50, 1, 0.1,
        0.2, 0.9, 0.8, 'jobs/results.json', '{T0}')""")
    con.close()


def _two_object_doc() -> dict:
    inputs = [{"kind": "click", "x": 10, "y": 10, "object_id": 1}, {"kind": "click", "x": 40, "y": 30, "object_id": 2}]
    return {"schema_version": "2.0", "session_id": "new-2", "user_id": "u2", "created_at": "2026-03-02T10:00:00Z",
            "video": {"uri": "v/b.mp4", "width": 64, "height": 48, "n_frames": 4},
            "objects": [{"id": 1}, {"id": 2, "name": "ball"}],
            "frames": [{"frame_index": 0, "stage": "first_frame", "iterations": [{"index": 0, "inputs": inputs}]}]}


def test_old_database_migrates_and_keeps_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    _old_database(db)
    with AnalyticsStore(db, workers=1) as store:
        con = store.con
        assert applied_versions(con) == {2, 3, 4} and LATEST == 4
        counts = store.counts()
        assert (counts["sessions"], counts["frames"], counts["iterations"], counts["inputs"], counts["job_results"]) \
            == (1, 1, 1, 2, 1)
        assert con.execute("select object_id, x from inputs order by input_pos").fetchall() == [(1, 100.0), (1, 300.0)]
        assert con.execute("select n_objects, schema_version from sessions").fetchall() == [(1, "1.0")]
        # the old job is one object (id 1) with the job's own values
        assert con.execute("select session_id, model_version, object_id, final_iou, n_iterations "
                           "from job_object_results").fetchall() == [("old-1", "m-1", 1, 0.8, 1)]
        # the migrated database takes new (2.0, two-object) logs next to the old rows
        f = tmp_path / "new.jsonl"
        f.write_text(json.dumps(_two_object_doc(), separators=(",", ":")) + "\n")
        assert store.load([f]).loaded == 1 and store.validated_fast == 1
        assert con.execute("select object_id, x from inputs where session_id = 'new-2' order by input_pos"
                           ).fetchall() == [(1, 10.0), (2, 40.0)]
        assert con.execute("select n_objects from sessions where session_id = 'new-2'").fetchall() == [(2,)]
        assert run_sql_tests(con) == {}
    # reopening runs nothing again and changes nothing
    with AnalyticsStore(db, workers=1) as store:
        assert store.con.execute("select count(*) from schema_migrations").fetchall() == [(3,)]
        assert store.counts()["inputs"] == 4 and store.counts()["job_object_results"] == 1


def test_new_database_records_the_migrations_without_running_them_twice(tmp_path: Path) -> None:
    with AnalyticsStore(tmp_path / "new.duckdb", workers=1) as store:
        cols = {r[0]: r[2] for r in store.con.execute("describe inputs").fetchall()}
        assert cols["object_id"] == "NO"  # not null, as in schema.sql
        assert applied_versions(store.con) == {2, 3, 4}
    with AnalyticsStore(tmp_path / "new.duckdb", workers=1) as store:
        assert store.con.execute("select count(*) from schema_migrations").fetchall() == [(3,)]


def test_job_results_load_their_objects(tmp_path: Path) -> None:
    """A two-object record gives two job_object_results rows, an old record one (object 1); a rerun
    replaces the job's object rows; a bad object entry quarantines the record, naming the entry."""
    two = {"session_id": "s2", "model_version": "v1", "finished_at": "2026-03-01T00:00:00Z", "final_iou": 0.7,
           "objects": [{"object_id": 1, "name": "dog", "final_iou": 0.6, "n_annotated_frames": 1, "frames": []},
                       {"object_id": 2, "final_iou": 0.8, "n_iterations": 3}]}
    old = {"session_id": "s1", "model_version": "v1", "final_iou": 0.5, "n_iterations": 2}
    bad = dict(two, session_id="s3", objects=[{"object_id": 0}])
    f = tmp_path / "jobs.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in (two, old, bad)) + "\n")
    with AnalyticsStore(tmp_path / "a.duckdb", workers=1) as store:
        rep = store.load_job_results([f])
        assert (rep.loaded, rep.quarantined) == (2, 1)
        assert "objects[0].object_id" in store.con.execute("select reason from quarantine").fetchall()[0][0]
        rows = store.con.execute("select session_id, object_id, name, final_iou, n_iterations, n_annotated_frames "
                                 "from job_object_results order by all").fetchall()
        assert rows == [("s1", 1, None, 0.5, 2, None), ("s2", 1, "dog", 0.6, None, 1), ("s2", 2, None, 0.8, 3, None)]
        rerun = dict(two, finished_at="2026-04-01T00:00:00Z", objects=[{"object_id": 1, "final_iou": 0.9}])
        g = tmp_path / "jobs2.jsonl"
        g.write_text(json.dumps(rerun) + "\n")
        assert store.load_job_results([g]).loaded == 1
        assert store.con.execute("select object_id, final_iou from job_object_results where session_id = 's2'"
                                 ).fetchall() == [(1, 0.9)]
