"""Analytics in bounded memory: batch-by-batch commits, a load killed mid-file, resuming (issue 16 item 4)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import analytics.store as store_module
from analytics.queries import run_sql_tests
from analytics.staging import stream_batches
from analytics.store import AnalyticsStore, connect_readonly
from tests.test_analytics_store import jsonl, session

REPO = Path(__file__).resolve().parents[1]
CHECKED_TABLES = ("sessions", "frames", "iterations", "inputs", "quarantine", "loaded_files")
WITH_LOAD_TIME = ("sessions", "quarantine", "loaded_files")
#: a session is in whole or not at all: its child rows match the counts of its sessions row, and
#: no child row lacks its session
HALF_LOADED = """
select count(*) from (
    select s.session_id from sessions as s
    left join (select session_id, count(*) as n from frames group by all) as f using (session_id)
    left join (select session_id, count(*) as n from iterations group by all) as i using (session_id)
    left join (select session_id, count(*) as n from inputs group by all) as k using (session_id)
    where coalesce(f.n, 0) != s.n_frames or coalesce(i.n, 0) != s.n_iterations or coalesce(k.n, 0) != s.n_inputs
    union all select session_id from frames anti join sessions using (session_id)
    union all select session_id from iterations anti join sessions using (session_id)
    union all select session_id from inputs anti join sessions using (session_id)
)
"""


def _rows(table: str) -> str:
    return f"select * exclude (loaded_at) from {table}" if table in WITH_LOAD_TIME else f"select * from {table}"


def checksums(con) -> dict[str, tuple]:
    """Row count and an order-independent checksum of every table (load times left out)."""
    return {t: con.execute(f"select count(*), sum(hash(r))::varchar from ({_rows(t)}) as r").fetchall()[0]
            for t in CHECKED_TABLES}


def contents(con) -> dict[str, list[tuple]]:
    return {t: con.execute(f"{_rows(t)} order by all").fetchall() for t in CHECKED_TABLES}


def _log_lines(n: int) -> list[str]:
    """``n`` sessions in JSONL with bad records and duplicates spread over the file."""
    lines = []
    for i in range(n):
        if i % 97 == 50:
            lines.append(json.dumps(session(f"s{i}"))[:-30])  # truncated
        elif i % 101 == 70:
            lines.append(json.dumps(session(f"s{i - 60}", iters=4)))  # conflicting duplicate, an earlier batch
        elif i % 103 == 80:
            lines.append(json.dumps(session(f"s{i - 70}", refine=(i - 70) % 3, strokes=(i - 70) % 4 == 0)))  # same
        else:
            lines.append(json.dumps(session(f"s{i}", refine=i % 3, strokes=i % 4 == 0)))
    return lines


CHILD = """
import logging, sys
from pathlib import Path
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
from analytics.store import AnalyticsStore
with AnalyticsStore(Path(sys.argv[1]), workers=1, batch_size=int(sys.argv[3])) as store:
    store.load([Path(sys.argv[2])])
"""


def _load_and_kill(db: Path, logs: Path, batch_size: int, after_commits: int) -> None:
    """Load ``logs`` in a child process and SIGKILL it right after its ``after_commits``-th commit."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(logs), str(batch_size)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen, deadline, lines = 0, time.monotonic() + 240, []
    try:
        assert proc.stderr is not None
        while seen < after_commits and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            seen += "committed through record" in line
        assert seen == after_commits, f"the load ended before {after_commits} commits:\n{''.join(lines)}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


def test_load_killed_mid_file_keeps_whole_sessions_and_resumes_exactly(tmp_path: Path) -> None:
    n, batch = 1500, 150
    logs = jsonl(tmp_path / "big.jsonl", _log_lines(n))
    db = tmp_path / "killed.duckdb"
    _load_and_kill(db, logs, batch, after_commits=2)

    con = connect_readonly(db)
    try:
        (position,) = con.execute("select position from load_progress").fetchone()
        assert batch * 2 <= position < n  # mid-file: two batches or more committed, not the whole file
        (n_sessions,) = con.execute("select count(*) from sessions").fetchone()
        assert 0 < n_sessions < n
        assert con.execute(HALF_LOADED).fetchone() == (0,)
        assert con.execute("select count(*) from loaded_files").fetchone() == (0,)
        assert con.execute("select max(source_position) from sessions").fetchone()[0] <= position
    finally:
        con.close()

    with AnalyticsStore(db, workers=1, batch_size=batch) as s:
        resumed = s.load([logs])
        assert s.validated_fast + s.validated_by_model < n  # the committed records were not read again
        assert run_sql_tests(s.con) == {}
        assert s.con.execute("select count(*) from load_progress").fetchone() == (0,)
        got_sums, got = checksums(s.con), contents(s.con)
    with AnalyticsStore(tmp_path / "clean.duckdb", workers=1, batch_size=batch) as s:
        clean = s.load([logs])
        want_sums, want = checksums(s.con), contents(s.con)
    assert resumed == clean and clean.quarantined > 0 and clean.unchanged > 0
    assert got_sums == want_sums
    assert got == want


def _interrupt_after(monkeypatch: pytest.MonkeyPatch, n_batches: int) -> None:
    """Make the store's batch loader fail on batch ``n_batches + 1`` (a crash mid-file)."""
    real, calls = store_module.load_batch, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) > n_batches:
            raise RuntimeError("power cut")
        return real(*args, **kwargs)

    monkeypatch.setattr(store_module, "load_batch", failing)


def test_parquet_load_interrupted_mid_file_resumes_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs: list[str | None] = [json.dumps(session(f"p{i}", refine=i % 2), separators=(",", ":")) for i in range(400)]
    docs[123], docs[250] = None, "{nope"
    logs = tmp_path / "s.parquet"
    pq.write_table(pa.table({"document": pa.array(docs, pa.string())}), logs, row_group_size=64)
    with AnalyticsStore(tmp_path / "a.duckdb", workers=1, batch_size=70) as s:
        _interrupt_after(monkeypatch, 3)
        with pytest.raises(RuntimeError, match="power cut"):
            s.load([logs])
        assert s.con.execute("select position, n_records from load_progress").fetchall() == [(210, 210)]
        assert s.counts()["sessions"] == 209 and s.counts()["loaded_files"] == 0
        monkeypatch.undo()
        resumed = s.load([logs])
        assert s.validated_fast == 209 + 189  # no record validated twice (one null, one bad record)
        got = contents(s.con)
    with AnalyticsStore(tmp_path / "b.duckdb", workers=1, batch_size=1000) as s:
        clean = s.load([logs])
        want = contents(s.con)
    assert resumed == clean and (clean.loaded, clean.quarantined) == (398, 2)
    assert got == want


@pytest.mark.parametrize("column", ["string", "binary"])
def test_parquet_stream_batches_cover_every_record_once(tmp_path: Path, column: str) -> None:
    values = [f'{{"k":{i}}}' for i in range(1, 301)]
    arr = pa.array([None if i == 100 else v for i, v in enumerate(values, start=1)], pa.string())
    if column == "binary":
        arr = arr.cast(pa.binary())
    pq.write_table(pa.table({"document": arr}), tmp_path / "x.parquet", row_group_size=64)
    for start_after in (0, 63, 64, 100, 299, 300):
        batches = list(stream_batches(tmp_path / "x.parquet", "parquet", 50, start_after=start_after))
        positions = [p for b in batches for p in b.raw.column("position").to_pylist()]
        nulls = [r.position for b in batches for r in b.unreadable]
        assert sorted(positions + nulls) == list(range(start_after + 1, 301))
        assert nulls == ([100] if start_after < 100 else [])
        assert all(b.n_records <= 50 for b in batches) and sum(b.n_records for b in batches) == 300 - start_after
        if batches:
            assert batches[-1].last_position == 300
        docs = [d for b in batches for d in b.raw.column("document").to_pylist()]
        assert docs == [values[p - 1] for p in positions]


def test_writer_settings_bounded_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer spills to <db>.tmp (or $IVOS_DUCKDB_TEMP_DIRECTORY / temp_directory=) and does
    not keep insertion order; readers keep DuckDB's defaults for both."""
    monkeypatch.delenv("IVOS_DUCKDB_TEMP_DIRECTORY", raising=False)
    setting = "select current_setting('temp_directory'), current_setting('preserve_insertion_order')"
    with AnalyticsStore(tmp_path / "a.duckdb", workers=1) as s:
        assert s.con.execute(setting).fetchone() == (str(tmp_path / "a.duckdb.tmp"), False)
    with AnalyticsStore(tmp_path / "a.duckdb", workers=1, temp_directory=tmp_path / "spill") as s:
        assert s.con.execute(setting).fetchone()[0] == str(tmp_path / "spill")
    monkeypatch.setenv("IVOS_DUCKDB_TEMP_DIRECTORY", str(tmp_path / "env-spill"))
    with AnalyticsStore(tmp_path / "a.duckdb", workers=1) as s:
        assert s.con.execute(setting).fetchone()[0] == str(tmp_path / "env-spill")
    con = connect_readonly(tmp_path / "a.duckdb")
    assert con.execute(setting).fetchone()[1] is True
    con.close()
    monkeypatch.setenv("IVOS_ANALYTICS_BATCH_SIZE", "0")
    with pytest.raises(ValueError, match="IVOS_ANALYTICS_BATCH_SIZE"):
        AnalyticsStore(tmp_path / "b.duckdb", workers=1)
