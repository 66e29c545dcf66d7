"""Loading one batch of session documents: validate, stage, insert (inside the caller's transaction).

The batch's readable documents are registered as ``_raw_batch`` (position, document). The SQL
fast path (:mod:`analytics.prevalidate`, ``sql/load/prevalidate.sql``) accepts the clearly valid
ones; the others go to the session model (:mod:`analytics.validation`), which accepts them or
gives the quarantine reason. Accepted documents are staged with their keys and content hash
(``sql/load/stage_sessions.sql``), compared with the stored sessions (duplicate policy:
``sql/load/session_status.sql``), and the new ones are flattened into sessions / frames /
iterations / inputs (``sql/load/insert_*.sql``) in the same transaction as their ``sessions`` row.
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pyarrow as pa

from analytics.batch_tables import BatchTables
from analytics.bookkeeping import (
    SNIPPET_CHARS,
    LoadReport,
    insert_quarantine,
    now,
    quarantine_row,
)
from analytics.prevalidate import run_fast_path
from analytics.sqlfiles import read_sql, registered
from analytics.staging import RawBatch
from analytics.validation import Verdict, validate_batch

if TYPE_CHECKING:
    import duckdb

__all__ = ["BatchResult", "load_batch"]

#: given the number of documents for the model, the process pool to validate them (or None)
PoolFor = Callable[[int], "Executor | None"]


@dataclass
class BatchResult:
    """The counts of one batch, and how its documents were validated (diagnostics)."""

    report: LoadReport
    validated_fast: int = 0
    validated_by_model: int = 0


def load_batch(con: "duckdb.DuckDBPyConnection", batch: RawBatch, path: Path, sha: str,
               pool_for: PoolFor) -> BatchResult:
    """Validate and load one batch of a session file (the caller owns the transaction)."""
    loaded_at = now()
    quarantine = [quarantine_row(path, sha, r.position, "session", None, r.error or "unreadable", r.snippet, loaded_at)
                  for r in batch.unreadable]
    # the batch's intermediate tables are Arrow, not temp tables: see analytics.batch_tables
    with BatchTables(con) as tables:
        with registered(con, "_raw_batch", batch.raw):
            n_fast = run_fast_path(con, tables)
        n_model = _validate_slow_path(con, tables, path, sha, quarantine, loaded_at, pool_for)
        tables.create("_stage", read_sql("load/stage_sessions.sql"))
        rep = _insert_sessions(con, tables, path, sha, quarantine, loaded_at)
    insert_quarantine(con, quarantine)
    rep.quarantined += len(quarantine)
    return BatchResult(rep, n_fast, n_model)


def _validate_slow_path(con: "duckdb.DuckDBPyConnection", tables: BatchTables, path: Path, sha: str, quarantine: list[dict[str, Any]],
                        loaded_at: datetime, pool_for: PoolFor) -> int:
    """Validate the documents the fast path did not accept with the session model: the accepted
    ones go to ``_slow_docs``, the others to ``quarantine`` (rows). Returns how many there were."""
    slow = con.sql(read_sql("load/slow_path_docs.sql")).to_arrow_table()
    items = list(zip(slow.column("position").to_pylist(), slow.column("document").to_pylist()))
    del slow
    verdicts: list[Verdict] = validate_batch(items, str(path), pool_for(len(items)))
    texts = dict(items)
    ok = [v for v in verdicts if v.ok]
    for v in verdicts:
        if not v.ok:
            quarantine.append(quarantine_row(path, sha, v.position, "session", None, v.reason or "invalid",
                                             texts[v.position][:SNIPPET_CHARS], loaded_at))
    slow_ok = pa.table({
        "position": pa.array([v.position for v in ok], pa.int64()),
        "session_id": pa.array([v.session_id for v in ok], pa.string()),
        "created_at": pa.array([v.created_at for v in ok], pa.timestamp("us", tz="UTC")),
        "document": pa.array([texts[v.position] for v in ok], pa.string()),
        "canonical": pa.array([v.canonical for v in ok], pa.string()),
    })
    with registered(con, "_slow_ok", slow_ok):
        tables.create("_slow_docs", read_sql("load/slow_docs.sql"))
    return len(items)


def _insert_sessions(con: "duckdb.DuckDBPyConnection", tables: BatchTables, path: Path, sha: str, quarantine: list[dict[str, Any]],
                     loaded_at: datetime) -> LoadReport:
    """Insert the new sessions of ``_stage`` (accepted documents) and count the rest.

    ``_stage`` holds keys and hashes; the parsed documents stay in ``_checked`` (fast path)
    and ``_slow_docs`` (accepted by the model) and are joined in once, for the new sessions.
    """
    status = con.execute(
        read_sql("load/session_status.sql"), {"source_file": str(path), "snippet_chars": SNIPPET_CHARS}
    ).df()
    n_unchanged = int((status["status"] == "unchanged").sum()) if len(status) else 0
    for row in status[status["status"] == "conflict"].itertuples(index=False) if len(status) else []:
        quarantine.append(quarantine_row(
            path, sha, int(row.position), "session", row.session_id,
            f"conflicting duplicate: session_id {row.session_id!r} was already loaded from "
            f"{row.kept_from} with different content (policy: the first loaded document is kept)",
            row.snippet, loaded_at,
        ))
    n_new = tables.create("_new_docs", read_sql("load/new_docs.sql"), {"source_file": str(path), "loaded_at": loaded_at})
    for name in ("insert_sessions", "insert_frames", "insert_iterations", "insert_inputs"):
        con.execute(read_sql(f"load/{name}.sql"))
    return LoadReport(loaded=int(n_new), unchanged=n_unchanged)
