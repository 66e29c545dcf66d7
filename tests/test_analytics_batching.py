"""The loader's per-batch machinery: Arrow batch tables (parallel scans, gone after the batch) and
the read-ahead of the next batch (order kept, errors surfaced, stopped with the consumer)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Iterator

import duckdb
import pytest

from analytics.batch_tables import CHUNK_ROWS, BatchTables
from analytics.staging import read_ahead
from analytics.store import AnalyticsStore
from tests.test_analytics_store import jsonl, session


def test_read_ahead_keeps_order_and_runs_ahead_of_the_consumer() -> None:
    produced: list[int] = []

    def items() -> Iterator[int]:
        for i in range(5):
            produced.append(i)
            yield i

    it = read_ahead(items(), depth=1)
    assert next(it) == 0
    deadline = time.monotonic() + 5
    while len(produced) < 2 and time.monotonic() < deadline:  # the next item is read while 0 is in use
        time.sleep(0.01)
    assert produced[:2] == [0, 1]
    assert list(it) == [1, 2, 3, 4]


def test_read_ahead_raises_the_producers_error_after_the_good_items() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise OSError("disk gone")

    got = []
    with pytest.raises(OSError, match="disk gone"):
        for x in read_ahead(items()):
            got.append(x)
    assert got == [1, 2]


def test_read_ahead_stops_the_producer_when_the_consumer_stops() -> None:
    def endless() -> Iterator[int]:
        i = 0
        while True:
            i += 1
            yield i

    before = {t.ident for t in threading.enumerate()}
    it = read_ahead(endless(), depth=2)
    assert next(it) == 1
    it.close()  # what a `for` loop left by an exception does
    assert not [t for t in threading.enumerate() if t.name == "read-ahead" and t.ident not in before]


def test_batch_tables_are_chunked_for_parallel_scans_and_gone_after_the_batch() -> None:
    con = duckdb.connect()
    with BatchTables(con) as tables:
        n = tables.create("_nums", "select range as x from range($n)", {"n": 3 * CHUNK_ROWS + 5})
        assert n == 3 * CHUNK_ROWS + 5 and tables.rows("_nums") == n
        assert con.execute("select sum(x) from _nums").fetchall()[0][0] == n * (n - 1) // 2
        assert tables._tables["_nums"].column("x").num_chunks == 4  # one DuckDB scan task per chunk
        tables.create("_nums", "select 1 as x")  # replaced within the batch
        assert con.execute("select count(*) from _nums").fetchall()[0][0] == 1
    with pytest.raises(duckdb.CatalogException):
        con.execute("select * from _nums")


def test_a_load_leaves_no_batch_tables_or_temp_tables_behind(tmp_path: Path) -> None:
    lines = [json.dumps(session(f"s{i}", refine=i % 2)) for i in range(30)] + ["{broken"]
    with AnalyticsStore(tmp_path / "a.duckdb", workers=1, batch_size=7) as s:
        rep = s.load([jsonl(tmp_path / "s.jsonl", lines)])
        assert (rep.loaded, rep.quarantined) == (30, 1)
        temp_tables = s.con.execute("select table_name from duckdb_tables() where temporary").fetchall()
        temp_views = s.con.execute("select view_name from duckdb_views() where temporary and not internal").fetchall()
        assert temp_tables == [] and [v for (v,) in temp_views if v.startswith("_")] == []
        assert s.counts()["inputs"] == s.con.execute("select sum(n_inputs) from sessions").fetchall()[0][0]


def test_a_failed_batch_stops_the_read_ahead_thread_before_the_error_is_handled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import analytics.store as store_module

    def failing(*args, **kwargs):
        raise RuntimeError("power cut")

    lines = [json.dumps(session(f"s{i}")) for i in range(40)]
    with AnalyticsStore(tmp_path / "a.duckdb", workers=1, batch_size=5) as s:
        monkeypatch.setattr(store_module, "load_batch", failing)
        try:
            s.load([jsonl(tmp_path / "s.jsonl", lines)])
        except RuntimeError:
            # still inside the handler (the traceback alive): the producer is already gone
            assert not [t for t in threading.enumerate() if t.name == "read-ahead"]
        else:
            pytest.fail("the load did not fail")
