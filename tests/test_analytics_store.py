"""Analytics store: idempotent and incremental loads, quarantine of bad input, duplicate policy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analytics.queries import run_sql_tests
from analytics.store import TABLES, AnalyticsStore

CONTENT_TABLES = ("sessions", "frames", "iterations", "inputs", "quarantine")


def session(sid: str, *, refine: int = 0, iters: int = 2, user: str = "u1", strokes: bool = False,
            created: str = "2026-03-01T10:00:00Z", **over: Any) -> dict[str, Any]:
    """A small valid session document (854x480 video); ``over`` replaces top-level keys."""
    def frame(idx: int, stage: str, n: int) -> dict[str, Any]:
        its = []
        for k in range(n):
            inp: dict[str, Any] = ({"kind": "stroke", "points": [[100, 100], [150, 120], [200, 130]], "radius": 3}
                                   if strokes else {"kind": "click", "x": 100 + k, "y": 50, "positive": k == 0})
            its.append({"index": k, "inputs": [inp]})
        return {"frame_index": idx, "stage": stage, "iterations": its}

    doc = {
        "schema_version": "1.0", "session_id": sid, "user_id": user, "created_at": created,
        "video": {"uri": "v/a.mp4", "width": 854, "height": 480, "n_frames": 50},
        "frames": [frame(0, "first_frame", iters)] + [frame(10 + i, "refinement", 3) for i in range(refine)],
    }
    doc.update(over)
    return doc


def jsonl(path: Path, lines: list[str | bytes]) -> Path:
    path.write_bytes(b"\n".join(x if isinstance(x, bytes) else x.encode() for x in lines) + b"\n")
    return path


def snapshot(store: AnalyticsStore) -> dict[str, list[tuple]]:
    out = {}
    for t in CONTENT_TABLES:
        cols = "*" if t != "quarantine" else "source_file, position, reason"
        out[t] = store.con.execute(f"select {cols} from {t} order by all").fetchall()
    return out


@pytest.fixture
def store(tmp_path: Path):
    with AnalyticsStore(tmp_path / "a.duckdb", workers=1) as s:
        yield s


def test_load_counts_and_column_tests(store: AnalyticsStore, tmp_path: Path) -> None:
    f = jsonl(tmp_path / "a.jsonl", [json.dumps(session("s1", refine=1)), json.dumps(session("s2", strokes=True))])
    rep = store.load([f])
    assert (rep.loaded, rep.unchanged, rep.quarantined, rep.files_loaded) == (2, 0, 0, 1)
    c = store.counts()
    assert (c["sessions"], c["frames"], c["iterations"], c["inputs"]) == (2, 3, 7, 7)
    stroke = store.con.execute("select n_points, path_length, bbox_area from inputs where kind = 'stroke' "
                               "limit 1").fetchall()[0]
    assert stroke[0] == 3 and stroke[1] == pytest.approx((50**2 + 20**2) ** 0.5 + (50**2 + 10**2) ** 0.5)
    assert stroke[2] == pytest.approx(100 * 30)
    assert run_sql_tests(store.con) == {}


def test_reload_is_idempotent_and_incremental(store: AnalyticsStore, tmp_path: Path) -> None:
    d = tmp_path / "logs"
    d.mkdir()
    jsonl(d / "a.jsonl", [json.dumps(session(f"s{i}", refine=i % 2)) for i in range(5)] + ["{bad"])
    (d / "b.json").write_text(json.dumps(session("solo")))
    rep = store.load([d])
    assert (rep.loaded, rep.quarantined, rep.files_loaded) == (6, 1, 2)
    before, counts = snapshot(store), store.counts()
    rep2 = store.load([d])
    assert (rep2.loaded, rep2.quarantined, rep2.files_skipped, rep2.files_loaded) == (0, 0, 2, 0)
    assert snapshot(store) == before and store.counts() == counts
    # the same records in a new file (different bytes): parsed, all unchanged, no row changes
    jsonl(tmp_path / "copy.jsonl", [json.dumps(session(f"s{i}", refine=i % 2), indent=None, separators=(",", ":"))
                                    for i in range(5)])
    rep3 = store.load([tmp_path / "copy.jsonl"])
    assert (rep3.loaded, rep3.unchanged, rep3.quarantined) == (0, 5, 0)
    for t in ("sessions", "frames", "iterations", "inputs", "quarantine"):
        assert snapshot(store)[t] == before[t]
    # incremental: a new file loads only its new records
    jsonl(d / "c.jsonl", [json.dumps(session("s_new"))])
    rep4 = store.load([d])
    assert (rep4.loaded, rep4.files_loaded, rep4.files_skipped) == (1, 1, 2)


def test_reopen_keeps_state(tmp_path: Path) -> None:
    f = jsonl(tmp_path / "a.jsonl", [json.dumps(session("s1"))])
    with AnalyticsStore(tmp_path / "x.duckdb", workers=1) as s:
        s.load([f])
    with AnalyticsStore(tmp_path / "x.duckdb", workers=1) as s:
        assert s.load([f]).files_skipped == 1
        assert s.counts()["sessions"] == 1


BAD_CASES = {
    "truncated": json.dumps(session("t"))[:-40],
    "wrong_types": json.dumps(session("w", user_id=12345, created_at="yesterday")),
    "unknown_schema": json.dumps(session("u", schema_version="9.9")),
    "click_outside": json.dumps(session("c", frames=[{"frame_index": 0, "stage": "first_frame", "iterations": [
        {"index": 0, "inputs": [{"kind": "click", "x": 900, "y": 10}]}]}])),
    "iteration_gap": json.dumps(session("g", frames=[{"frame_index": 0, "stage": "first_frame", "iterations": [
        {"index": 0, "inputs": [{"kind": "click", "x": 9, "y": 10}]},
        {"index": 2, "inputs": [{"kind": "click", "x": 9, "y": 10}]}]}])),
    "not_an_object": "[1, 2, 3]",
}


@pytest.mark.parametrize("case", sorted(BAD_CASES) + ["non_utf8"])
def test_bad_record_quarantined_good_ones_load(store: AnalyticsStore, tmp_path: Path, case: str) -> None:
    bad: str | bytes = BAD_CASES.get(case, b'{"session_id": "\xff\xfe broken"}')
    f = jsonl(tmp_path / f"{case}.jsonl", [json.dumps(session("good1")), bad, json.dumps(session("good2"))])
    rep = store.load([f])
    assert (rep.loaded, rep.quarantined) == (2, 1)
    q = store.con.execute("select source_file, position, record_kind, reason from quarantine").fetchall()
    assert q[0][0] == str(f) and q[0][1] == 2 and q[0][2] == "session" and q[0][3]
    expected_word = {"truncated": "JSON", "wrong_types": "user_id", "unknown_schema": "schema_version",
                     "click_outside": "outside", "iteration_gap": "iteration", "non_utf8": "UTF-8",
                     "not_an_object": "object"}[case]
    assert expected_word.lower() in q[0][3].lower()
    assert sorted(r[0] for r in store.con.execute("select session_id from sessions").fetchall()) == ["good1", "good2"]
    assert run_sql_tests(store.con) == {}


def test_non_utf8_single_document_file(store: AnalyticsStore, tmp_path: Path) -> None:
    (tmp_path / "x.json").write_bytes(b"\xff\xfe{}")
    (tmp_path / "ok.json").write_text(json.dumps(session("ok")))
    rep = store.load([tmp_path])
    assert (rep.loaded, rep.quarantined) == (1, 1)


def test_conflicting_duplicate_policy_first_wins(store: AnalyticsStore, tmp_path: Path) -> None:
    first, other = session("dup", iters=2), session("dup", iters=5)
    # inside one batch: the lower position wins, the same content again is "unchanged"
    f = jsonl(tmp_path / "a.jsonl", [json.dumps(first), json.dumps(other), json.dumps(first)])
    rep = store.load([f])
    assert (rep.loaded, rep.unchanged, rep.quarantined) == (1, 1, 1)
    assert store.con.execute("select n_iterations from sessions").fetchall() == [(2,)]
    reason = store.con.execute("select position, reason from quarantine").fetchall()
    assert reason[0][0] == 2 and "conflicting duplicate" in reason[0][1]
    # across loads: the stored one is kept
    g = jsonl(tmp_path / "b.jsonl", [json.dumps(other), json.dumps(session("fresh"))])
    rep2 = store.load([g])
    assert (rep2.loaded, rep2.quarantined) == (1, 1)
    assert store.con.execute("select n_iterations from sessions where session_id = 'dup'").fetchall() == [(2,)]


def test_parquet_and_json_array_sources(store: AnalyticsStore, tmp_path: Path) -> None:
    docs = [json.dumps(session(f"p{i}")) for i in range(3)] + ["{nope"]
    pq.write_table(pa.table({"document": docs}), tmp_path / "s.parquet")
    (tmp_path / "arr.json").write_text(json.dumps([session("a1"), session("a2")]))
    rep = store.load([tmp_path / "s.parquet", tmp_path / "arr.json"])
    assert (rep.loaded, rep.quarantined) == (5, 1)
    assert store.con.execute("select position from quarantine").fetchall() == [(4,)]


def test_synthetic_logs_load_and_pass_column_tests(store: AnalyticsStore, tmp_path: Path) -> None:
    from analytics.synthlogs import SynthConfig, write_logs

    f = write_logs(tmp_path / "syn.jsonl", SynthConfig(n_sessions=300, seed=1))
    rep = store.load([f])
    assert (rep.loaded, rep.quarantined) == (300, 0)
    assert run_sql_tests(store.con) == {}


def test_job_results_upsert_and_quarantine(store: AnalyticsStore, tmp_path: Path) -> None:
    rows = [
        {"session_id": "s1", "model_version": "v1", "runtime_s": 3.0, "finished_at": "2026-03-01T00:00:00Z",
         "consecutive_iou_mean": 0.8},
        {"session_id": "s1", "model_version": "v2", "runtime_s": 2.0, "finished_at": "2026-03-01T00:00:00Z"},
        {"session_id": "s2", "model_version": "v1", "final_iou": 1.7},
    ]
    f = jsonl(tmp_path / "jobs.jsonl", [json.dumps(r) for r in rows])
    rep = store.load_job_results([f])
    assert (rep.loaded, rep.quarantined) == (2, 1)
    assert store.load_job_results([f]).files_skipped == 1
    newer = dict(rows[0], runtime_s=1.0, finished_at="2026-04-01T00:00:00Z")
    rep2 = store.load_job_results([jsonl(tmp_path / "jobs2.jsonl", [json.dumps(newer), json.dumps(rows[1])])])
    assert (rep2.loaded, rep2.unchanged) == (1, 1)
    got = store.con.execute("select runtime_s from job_results where model_version = 'v1'").fetchall()
    assert got == [(1.0,)]


def test_eval_results_wide_items(store: AnalyticsStore, tmp_path: Path) -> None:
    run = tmp_path / "run1"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"dataset": "davis2017", "method": "osvos", "seed": 0}))
    pq.write_table(pa.table({"sequence": ["a", "b"], "J_mean": [0.8, 0.6], "F_mean": [0.7, 0.5]}),
                   run / "items.parquet")
    rep = store.load_eval_results([tmp_path])
    assert rep.loaded == 4
    assert store.load_eval_results([tmp_path]).files_skipped == 1
    assert store.counts()["eval_runs"] == 1
    assert set(TABLES) >= {"eval_results", "sequence_stats"}


def test_duplicate_keys_load_as_the_model_reads_them(store: AnalyticsStore, tmp_path: Path) -> None:
    """A repeated key: the session model keeps the last value, and so do the stored rows (the SQL
    fast path leaves such documents to the model, whose reading is what gets flattened)."""
    good = json.dumps(session("dupkey"), separators=(",", ":"))
    assert '"x":100,"y":50' in good
    last_wins_ok = good.replace('"x":100,"y":50', '"x":900,"x":100,"y":50', 1)  # 900 is outside, 100 inside
    last_wins_bad = json.dumps(session("dupkey2"), separators=(",", ":")).replace(
        '"x":100,"y":50', '"x":100,"x":900,"y":50', 1)
    rep = store.load([jsonl(tmp_path / "d.jsonl", [last_wins_ok, last_wins_bad])])
    assert (rep.loaded, rep.quarantined) == (1, 1)
    assert store.validated_by_model == 2
    xs = store.con.execute("select x from inputs where session_id = 'dupkey' and iteration_index = 0").fetchall()
    assert xs == [(100.0,)]
    assert "outside" in store.con.execute("select reason from quarantine").fetchall()[0][0]
    assert run_sql_tests(store.con) == {}


def test_fast_path_and_model_path_store_the_same_rows(tmp_path: Path) -> None:
    """The same documents loaded through the SQL fast path and (pretty-printed, with JSON nulls for
    optional fields, so the fast path declines them) through the model give the same rows."""
    docs = [session(f"s{i}", refine=i % 2, strokes=i % 3 == 0, created=f"2026-03-0{1 + i % 5}T10:00:00+01:00")
            for i in range(12)]
    fast_file = jsonl(tmp_path / "fast.jsonl", [json.dumps(d, separators=(",", ":")) for d in docs])
    with_nulls = [dict(d, video=dict(d["video"], fps=None)) for d in docs]
    slow_file = jsonl(tmp_path / "slow.jsonl", [json.dumps(d) for d in with_nulls])
    rows = []
    for f in (fast_file, slow_file):
        with AnalyticsStore(tmp_path / f"{f.stem}.duckdb", workers=1) as s:
            assert s.load([f]).loaded == 12
            rows.append({t: s.con.execute(f"select * exclude (content_sha256, source_file, loaded_at) from {t} "
                                          f"order by all" if t == "sessions" else f"select * from {t} order by all"
                                          ).fetchall() for t in ("sessions", "frames", "iterations", "inputs")})
            assert (s.validated_fast, s.validated_by_model) == ((12, 0) if f is fast_file else (0, 12))
    assert rows[0] == rows[1]


def _setting(con, name: str):
    return con.execute(f"select current_setting('{name}')").fetchone()[0]


def test_duckdb_memory_limit_and_threads_are_applied(tmp_path: Path, monkeypatch) -> None:
    """Default 1GB; IVOS_DUCKDB_MEMORY_LIMIT / IVOS_DUCKDB_THREADS, or the arguments, override it."""
    import duckdb

    from analytics.store import connect_readonly

    def expected(limit: str) -> str:  # DuckDB reports the limit in its own units (e.g. 1.8 GiB)
        return _setting(duckdb.connect(config={"memory_limit": limit}), "memory_limit")

    monkeypatch.delenv("IVOS_DUCKDB_MEMORY_LIMIT", raising=False)
    monkeypatch.delenv("IVOS_DUCKDB_THREADS", raising=False)
    with AnalyticsStore(tmp_path / "a.duckdb", workers=1) as s:
        assert _setting(s.con, "memory_limit") == expected("1GB")
    monkeypatch.setenv("IVOS_DUCKDB_MEMORY_LIMIT", "512MB")
    monkeypatch.setenv("IVOS_DUCKDB_THREADS", "2")
    with AnalyticsStore(tmp_path / "a.duckdb", workers=1) as s:
        assert _setting(s.con, "memory_limit") == expected("512MB") != expected("1GB")
        assert _setting(s.con, "threads") == 2
    with AnalyticsStore(tmp_path / "a.duckdb", workers=1, memory_limit="1GB", threads=1) as s:
        assert _setting(s.con, "memory_limit") == expected("1GB")
        assert _setting(s.con, "threads") == 1
    con = connect_readonly(tmp_path / "a.duckdb")
    assert _setting(con, "memory_limit") == expected("512MB")
    con.close()


@pytest.mark.parametrize("env,value", [("IVOS_DUCKDB_MEMORY_LIMIT", "lots"), ("IVOS_DUCKDB_THREADS", "zero")])
def test_bad_duckdb_setting_is_a_clear_error(tmp_path: Path, monkeypatch, env: str, value: str) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ValueError, match="IVOS_DUCKDB"):
        AnalyticsStore(tmp_path / "b.duckdb", workers=1)


def test_synthetic_logs_in_chunks_have_unique_ids_and_the_requested_count(tmp_path: Path) -> None:
    """A large generation runs chunk by chunk (bounded memory) and still yields n distinct sessions."""
    import duckdb
    import pyarrow.parquet as pq

    from analytics.synthlogs import SynthConfig, write_logs

    f = write_logs(tmp_path / "big.parquet", SynthConfig(n_sessions=250, seed=3), chunk=100)
    assert pq.ParquetFile(f).metadata.num_rows == 250
    ids = duckdb.sql(f"select json_extract_string(document, '$.session_id') as id from read_parquet('{f}')").fetchall()
    assert len({i for (i,) in ids}) == 250
    j = write_logs(tmp_path / "big.jsonl", SynthConfig(n_sessions=250, seed=3), chunk=100)
    assert len(j.read_text().splitlines()) == 250
    with AnalyticsStore(tmp_path / "a.duckdb", workers=1) as s:
        rep = s.load([f])
    assert rep.loaded == 250 and rep.quarantined == 0


def test_parquet_staging_does_not_keep_what_it_read(tmp_path: Path) -> None:
    """Streaming a Parquet file holds about one batch of Arrow memory, not the file: pyarrow's
    pre-buffering kept every byte range it read (a 10M-session load grew by 3 GB)."""
    import os

    import pyarrow as pa
    import pyarrow.parquet as pq

    from analytics.staging import stream_batches

    n = 20_000  # ~40 MB of incompressible documents in 20 row groups
    docs = pa.array([f'{{"session_id": "s{i}", "pad": "{os.urandom(1000).hex()}"}}' for i in range(n)])
    f = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"document": docs}), f, row_group_size=1_000, compression="none")
    del docs
    seen, held = 0, []
    for batch in stream_batches(f, "parquet", 1_000):
        seen += batch.n_records
        held.append(pa.total_allocated_bytes())
    assert seen == n
    # measured: 7-9 MB held without pre-buffering, 37-46 MB (the whole file) with it
    assert max(held) < f.stat().st_size / 2, (max(held), f.stat().st_size)
