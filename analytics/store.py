"""The analytics store: one DuckDB file, one writer (this class), many read-only readers.

DuckDB lets one process write a database file, so every write goes through
:class:`AnalyticsStore`; jobs and workers write JSON/Parquet files that it ingests.

Loading rules (see ``sql/schema.sql``):

* **Idempotent**: sessions and the other top-level tables have primary keys and inserts are
  ``insert or ignore`` / upserts; a session's frames / iterations / inputs are written only in the
  transaction that inserts its new ``sessions`` row (no index on them: it doubled the load time at
  10M inputs; ``sql/tests/child_keys_unique.sql`` checks their keys). Reloading changes no row.
* **Incremental**: a file whose sha256 is in ``loaded_files`` is skipped without being read.
* **Nothing valid is lost**: a bad record (truncated JSON, wrong types, unknown schema version,
  clicks outside the frame, iteration gaps, non-UTF-8 bytes) goes to ``quarantine`` with its
  file, position and reason, and every good record of the same file loads.
* **Duplicate session ids** (policy): the first loaded document wins. A later document with the
  same ``session_id`` and the same content (sha256 of its minified JSON) counts as *unchanged*; one
  with different content is quarantined with reason ``conflicting duplicate`` naming where the
  kept one came from. Inside one batch, the lower position is "first".

Validation is the session model of :mod:`ivos_core.interactions`. A set-based fast path in DuckDB
(:mod:`analytics.prevalidate`, ``sql/load/prevalidate.sql``) accepts the documents that are clearly
valid, at least as strictly as the model; the rest go to the model (:mod:`analytics.validation`),
which accepts them or gives the quarantine reason. Parquet ``document`` columns are read by DuckDB
directly; each document is parsed once into a typed struct that validation and the flattening into
frames / iterations / inputs (vectorised SQL, ``sql/load/*.sql``) share.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import duckdb
import pandas as pd
import pyarrow as pa

from analytics.results import (
    EvalRun,
    ResultRecordError,
    read_eval_run,
    read_job_results,
)
from analytics.migrations import migrate
from analytics.prevalidate import run_fast_path
from analytics.snapshot import publish_snapshot, snapshot_path
from analytics.sources import DOCUMENT_COLUMN, RawRecord, SourceKind, expand_paths, iter_records
from analytics.sqlfiles import read_sql, sql_files
from analytics.validation import PARALLEL_MIN_RECORDS, Verdict, validate_batch
from analytics.views import create_query_views
from ivos_core.utils import file_sha256

SNIPPET_CHARS = 300

#: DuckDB memory cap of the store's connections (beyond it DuckDB spills to ``<db>.tmp/``);
#: override with the ``IVOS_DUCKDB_MEMORY_LIMIT`` environment variable or ``memory_limit=``.
DEFAULT_MEMORY_LIMIT = "2GB"
MEMORY_LIMIT_ENV = "IVOS_DUCKDB_MEMORY_LIMIT"
#: DuckDB worker threads (default: DuckDB's, one per core); ``IVOS_DUCKDB_THREADS`` or ``threads=``.
THREADS_ENV = "IVOS_DUCKDB_THREADS"

TABLES = (
    "sessions", "frames", "iterations", "inputs", "job_results", "job_object_results", "eval_runs", "eval_results",
    "sequence_stats", "quarantine", "loaded_files",
)


@dataclass
class LoadReport:
    """Counts of one ``load`` call (records, except ``files_*``)."""

    loaded: int = 0
    unchanged: int = 0
    quarantined: int = 0
    files_loaded: int = 0
    files_skipped: int = 0

    def __add__(self, other: "LoadReport") -> "LoadReport":
        return LoadReport(
            self.loaded + other.loaded,
            self.unchanged + other.unchanged,
            self.quarantined + other.quarantined,
            self.files_loaded + other.files_loaded,
            self.files_skipped + other.files_skipped,
        )


def _now() -> datetime:
    return datetime.now(timezone.utc)


def duckdb_config(memory_limit: str | None = None, threads: int | None = None) -> dict[str, Any]:
    """``memory_limit`` and ``threads`` for ``duckdb.connect(config=...)``: the arguments, else
    ``$IVOS_DUCKDB_MEMORY_LIMIT`` / ``$IVOS_DUCKDB_THREADS``, else 2GB / DuckDB's default."""
    cfg: dict[str, Any] = {"memory_limit": memory_limit or os.environ.get(MEMORY_LIMIT_ENV) or DEFAULT_MEMORY_LIMIT}
    raw_threads = threads if threads is not None else os.environ.get(THREADS_ENV)
    if raw_threads not in (None, ""):
        try:
            n = int(raw_threads)
        except ValueError:
            raise ValueError(f"{THREADS_ENV} / threads must be a positive integer, got {raw_threads!r}") from None
        if n < 1:
            raise ValueError(f"{THREADS_ENV} / threads must be a positive integer, got {raw_threads!r}")
        cfg["threads"] = n
    return cfg


def _connect(path: str | Path, *, read_only: bool = False, memory_limit: str | None = None,
             threads: int | None = None) -> duckdb.DuckDBPyConnection:
    cfg = duckdb_config(memory_limit, threads)
    try:
        return duckdb.connect(str(path), read_only=read_only, config=cfg)
    except duckdb.ParserException as exc:  # e.g. memory_limit "lots"
        raise ValueError(f"bad DuckDB setting {cfg} (from {MEMORY_LIMIT_ENV} / {THREADS_ENV} or the arguments): {exc}") from None


def connect_readonly(path: str | Path, *, memory_limit: str | None = None, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only connection for readers (reports, analysts); fails if the file does not exist.
    Memory and threads as :func:`duckdb_config`."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no analytics database at {p}")
    return _connect(p, read_only=True, memory_limit=memory_limit, threads=threads)


def init_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the tables and macros, migrate a database made by an older ivos, and (re)create the
    views and table macros of the named queries (:mod:`analytics.views`); idempotent."""
    con.execute(read_sql("schema.sql"))
    migrate(con)
    for f in sql_files("macros"):
        con.execute(f.read_text(encoding="utf-8"))
    create_query_views(con)


class AnalyticsStore:
    """The one writer of an analytics DuckDB file. Use as a context manager.

    ``workers``: processes used to validate large batches (default: CPU count; 1 disables).
    ``memory_limit`` / ``threads``: DuckDB's, see :func:`duckdb_config` (default 2GB, or
    ``$IVOS_DUCKDB_MEMORY_LIMIT`` / ``$IVOS_DUCKDB_THREADS``).
    """

    def __init__(self, path: str | Path, workers: int | None = None, batch_size: int = 200_000, *,
                 memory_limit: str | None = None, threads: int | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        self.batch_size = batch_size
        self.con = _connect(self.path, memory_limit=memory_limit, threads=threads)
        # naive created_at timestamps are UTC (as the session model reads them)
        self.con.execute("set TimeZone = 'UTC'")
        init_schema(self.con)
        self._executor: Executor | None = None
        #: documents accepted by the SQL fast path / sent to the session model (diagnostics)
        self.validated_fast = 0
        self.validated_by_model = 0

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> "AnalyticsStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None
        self.con.close()

    def _pool(self) -> Executor | None:
        if self.workers <= 1:
            return None
        if self._executor is None:
            # spawn: DuckDB runs threads in this process; forking it is unsafe
            self._executor = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
        return self._executor

    # -- analysts' snapshot -------------------------------------------------------------------
    def publish_snapshot(self, target: str | Path | None = None) -> Path:
        """Publish a read-only copy of the committed database for analysts (default
        ``<stem>.snapshot.duckdb`` beside it), atomically; see :mod:`analytics.snapshot`."""
        return publish_snapshot(self.con, target if target is not None else snapshot_path(self.path))

    # -- introspection ----------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Row count of every table (used by tests and the CLI)."""
        return {t: self.con.execute(f"select count(*) from {t}").fetchall()[0][0] for t in TABLES}

    # -- session logs ------------------------------------------------------------------------
    def load(self, paths: Sequence[Path | str], source_kind: SourceKind = "auto") -> LoadReport:
        """Load session logs from files and directories; see the module docstring for the rules."""
        report = LoadReport()
        for path, kind in expand_paths(paths, source_kind):
            report = report + self._load_session_file(path, kind)
        return report

    def _already_loaded(self, sha: str) -> bool:
        return self.con.execute("select count(*) from loaded_files where sha256 = ?", [sha]).fetchall()[0][0] > 0

    def _load_session_file(self, path: Path, kind: str) -> LoadReport:
        sha = file_sha256(path)
        if self._already_loaded(sha):
            return LoadReport(files_skipped=1)
        rep = LoadReport(files_loaded=1)
        n_records = 0
        self.con.begin()
        try:
            n_direct = self._stage_parquet(path) if kind == "parquet" else None
            if n_direct is not None:
                # DuckDB reads the document column itself; batches are position ranges of _raw_all
                n_records = n_direct
                # whole DuckDB row groups (122,880 rows) per batch, so every batch scans in parallel
                step = max(1, round(self.batch_size / 122_880)) * 122_880
                for lo in range(1, n_direct + 1, step):
                    hi = lo + step - 1
                    self.con.execute(
                        f"create or replace temp view _raw_batch as select position, document from _raw_all "
                        f"where position between {int(lo)} and {int(hi)}"
                    )
                    rep = rep + self._load_raw_batch(path, sha, [])
                self.con.execute("drop view if exists _raw_batch")
                self.con.execute("drop table if exists _raw_all")
            else:
                for batch in iter_records(path, kind, self.batch_size):
                    n_records += len(batch)
                    rep = rep + self._load_session_batch(path, sha, batch)
            self._mark_loaded(path, sha, "session", n_records, rep)
            self.con.commit()
        except BaseException:
            self.con.rollback()
            raise
        return rep

    def _stage_parquet(self, path: Path) -> int | None:
        """Read a Parquet file's string ``document`` column into ``_raw_all``; None: read it in Python
        (no such column, a binary column whose bytes may not be UTF-8, or null documents)."""
        try:
            cols = self.con.execute("describe select * from read_parquet(?)", [str(path)]).fetchall()
            if {c[0]: c[1] for c in cols}.get(DOCUMENT_COLUMN) != "VARCHAR":
                return None
            self.con.execute(read_sql("load/raw_from_parquet.sql"), {"path": str(path)})
        except duckdb.Error:
            self.con.execute("drop table if exists _raw_all")
            return None
        n, n_null = self.con.execute("select count(*), count(*) - count(document) from _raw_all").fetchall()[0]
        if n_null:
            self.con.execute("drop table _raw_all")
            return None
        return int(n)

    def _load_session_batch(self, path: Path, sha: str, batch: list[RawRecord]) -> LoadReport:
        loaded_at = _now()
        quarantine: list[dict[str, Any]] = []
        positions: list[int] = []
        texts: list[str] = []
        for rec in batch:
            if rec.text is None:
                quarantine.append(self._q(path, sha, rec.position, "session", None, rec.error or "unreadable",
                                          rec.snippet, loaded_at))
            else:
                positions.append(rec.position)
                texts.append(rec.text)
        raw = pa.table({"position": pa.array(positions, pa.int64()), "document": pa.array(texts, pa.string())})
        self.con.register("_raw_batch", raw)
        try:
            return self._load_raw_batch(path, sha, quarantine, loaded_at)
        finally:
            self.con.unregister("_raw_batch")

    def _load_raw_batch(self, path: Path, sha: str, quarantine: list[dict[str, Any]],
                        loaded_at: datetime | None = None) -> LoadReport:
        """Validate and load the documents of ``_raw_batch`` (position, document).

        The fast path (:mod:`analytics.prevalidate`) accepts the clearly valid documents in SQL; the
        others are validated by the session model, which accepts them or gives the quarantine reason.
        """
        con = self.con
        loaded_at = loaded_at or _now()
        self.validated_fast += run_fast_path(con)
        slow = con.sql(read_sql("load/slow_path_docs.sql")).to_arrow_table()
        self.validated_by_model += slow.num_rows
        items = list(zip(slow.column("position").to_pylist(), slow.column("document").to_pylist()))
        del slow
        pool = self._pool() if len(items) >= PARALLEL_MIN_RECORDS else None
        verdicts: list[Verdict] = validate_batch(items, str(path), pool)
        texts = dict(items)
        ok = [v for v in verdicts if v.ok]
        for v in verdicts:
            if not v.ok:
                quarantine.append(self._q(path, sha, v.position, "session", None, v.reason or "invalid",
                                          texts[v.position][:SNIPPET_CHARS], loaded_at))
        slow_ok = pa.table({
            "position": pa.array([v.position for v in ok], pa.int64()),
            "session_id": pa.array([v.session_id for v in ok], pa.string()),
            "created_at": pa.array([v.created_at for v in ok], pa.timestamp("us", tz="UTC")),
            "document": pa.array([texts[v.position] for v in ok], pa.string()),
            "canonical": pa.array([v.canonical for v in ok], pa.string()),
        })
        con.register("_slow_ok", slow_ok)
        try:
            con.execute(read_sql("load/slow_docs.sql"))
        finally:
            con.unregister("_slow_ok")
        con.execute(read_sql("load/stage_sessions.sql"))
        rep = self._insert_sessions(path, loaded_at, sha, quarantine)
        for t in ("_checked", "_fast", "_slow_docs", "_stage"):
            con.execute(f"drop table if exists {t}")
        self._insert_quarantine(quarantine)
        rep.quarantined += len(quarantine)
        return rep

    def _insert_sessions(
        self, path: Path, loaded_at: datetime, sha: str, quarantine: list[dict[str, Any]]
    ) -> LoadReport:
        """Insert the new sessions of ``_stage`` (accepted documents) and count the rest.

        ``_stage`` holds keys and hashes; the parsed documents stay in ``_checked`` (fast path)
        and ``_slow_docs`` (accepted by the model) and are joined in once, for the new sessions.
        """
        con = self.con
        status = con.execute(
            read_sql("load/session_status.sql"), {"source_file": str(path), "snippet_chars": SNIPPET_CHARS}
        ).df()
        n_unchanged = int((status["status"] == "unchanged").sum()) if len(status) else 0
        for row in status[status["status"] == "conflict"].itertuples(index=False) if len(status) else []:
            quarantine.append(self._q(
                path, sha, int(row.position), "session", row.session_id,
                f"conflicting duplicate: session_id {row.session_id!r} was already loaded from "
                f"{row.kept_from} with different content (policy: the first loaded document is kept)",
                row.snippet, loaded_at,
            ))
        con.execute(read_sql("load/new_docs.sql"), {"source_file": str(path), "loaded_at": loaded_at})
        n_new = con.execute("select count(*) from _new_docs").fetchall()[0][0]
        for name in ("insert_sessions", "insert_frames", "insert_iterations", "insert_inputs"):
            con.execute(read_sql(f"load/{name}.sql"))
        con.execute("drop table _new_docs")
        return LoadReport(loaded=int(n_new), unchanged=n_unchanged)

    # -- shared helpers ----------------------------------------------------------------------
    @staticmethod
    def _q(path: Path, sha: str, position: int, kind: str, session_id: str | None, reason: str,
           snippet: str | None, loaded_at: datetime) -> dict[str, Any]:
        return {
            "source_file": str(path), "source_sha256": sha, "position": position, "record_kind": kind,
            "session_id": session_id, "reason": reason, "raw_snippet": snippet, "loaded_at": loaded_at,
        }

    def _insert_quarantine(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        df = pd.DataFrame(rows, columns=[
            "source_file", "source_sha256", "position", "record_kind", "session_id", "reason", "raw_snippet",
            "loaded_at",
        ])
        df["position"] = df["position"].astype("int64")
        df["session_id"] = df["session_id"].astype(object)
        df["raw_snippet"] = df["raw_snippet"].astype(object)
        self.con.register("_q_df", df)
        try:
            self.con.execute(read_sql("load/insert_quarantine.sql"))
        finally:
            self.con.unregister("_q_df")

    def _mark_loaded(self, path: Path, sha: str, kind: str, n_records: int, rep: LoadReport) -> None:
        self.con.execute(read_sql("load/insert_loaded_file.sql"), {
            "sha256": sha, "source_file": str(path), "record_kind": kind, "n_records": n_records,
            "n_loaded": rep.loaded, "n_unchanged": rep.unchanged, "n_quarantined": rep.quarantined, "loaded_at": _now(),
        })

    # -- job and evaluation results ----------------------------------------------------------
    def load_job_results(self, paths: Sequence[Path | str]) -> LoadReport:
        """Load job result records (JSON / JSONL / Parquet; columns in :mod:`analytics.results`).

        Policy: one row per (session_id, model_version); a record with a later ``finished_at``
        replaces the stored one (a rerun), an identical or older one counts as unchanged. The
        job's per-object rows (``job_object_results``) are replaced with it.
        """
        report = LoadReport()
        # a job output folder also holds masks_rle.json etc.: from folders take results.json only
        files: list[Path | str] = []
        for p in paths:
            files.extend(sorted(Path(p).rglob("results.json")) if Path(p).is_dir() else [p])
        for path, kind in expand_paths(files):
            sha = file_sha256(path)
            if self._already_loaded(sha):
                report = report + LoadReport(files_skipped=1)
                continue
            loaded_at = _now()
            good, objects, bad = read_job_results(path, kind)
            quarantine = [self._q(path, sha, e.position, "job_result", None, e.reason, e.snippet, loaded_at)
                          for e in bad]
            rep = LoadReport(files_loaded=1)
            self.con.begin()
            try:
                if len(good):
                    good = good.assign(source_file=str(path), loaded_at=loaded_at)
                    self.con.register("_jobs", good)
                    changed = self.con.execute(read_sql("load/upsert_job_results.sql")).fetchall()[0][0]
                    self.con.unregister("_jobs")
                    self._replace_job_objects(objects, str(path), loaded_at)
                    rep.loaded = int(changed or 0)  # inserted + replaced rows
                    rep.unchanged = len(good) - rep.loaded
                self._insert_quarantine(quarantine)
                rep.quarantined = len(quarantine)
                self._mark_loaded(path, sha, "job_result", len(good) + len(bad), rep)
                self.con.commit()
            except BaseException:
                self.con.rollback()
                raise
            report = report + rep
        return report

    def _replace_job_objects(self, objects: pd.DataFrame, source_file: str, loaded_at: datetime) -> None:
        """The per-object rows of the jobs this load inserted or replaced (inside its transaction)."""
        params = {"source_file": source_file, "loaded_at": loaded_at}
        self.con.execute(read_sql("load/delete_job_objects.sql"), params)
        self.con.register("_job_objects", objects)
        try:
            self.con.execute(read_sql("load/insert_job_objects.sql"), params)
        finally:
            self.con.unregister("_job_objects")

    def load_eval_results(self, paths: Sequence[Path | str]) -> LoadReport:
        """Load evaluation runs: a ``summary.json`` file or a run folder holding one (see results)."""
        report = LoadReport()
        for raw in paths:
            p = Path(raw)
            summaries = sorted(p.rglob("summary.json")) if p.is_dir() else [p]
            for summary in summaries:
                report = report + self._load_eval_run(summary)
        return report

    def _load_eval_run(self, summary: Path) -> LoadReport:
        sha = file_sha256(summary)
        try:
            run: EvalRun = read_eval_run(summary)
        except ResultRecordError as exc:
            if self._already_loaded(sha):
                return LoadReport(files_skipped=1)
            q = self._q(summary, sha, exc.position, "eval_result", None, exc.reason, exc.snippet, _now())
            self.con.begin()
            self._insert_quarantine([q])
            rep = LoadReport(files_loaded=1, quarantined=1)
            self._mark_loaded(summary, sha, "eval_result", 1, rep)
            self.con.commit()
            return rep
        # a run is identified by its summary plus its item file(s)
        sha = run.content_sha256
        if self._already_loaded(sha):
            return LoadReport(files_skipped=1)
        loaded_at = _now()
        self.con.begin()
        try:
            self.con.execute(read_sql("load/insert_eval_run.sql"), {
                "run_id": run.run_id, "dataset": run.dataset, "method": run.method, "created_at": run.created_at,
                "seed": run.seed, "summary_json": run.summary_json, "source_file": str(summary), "loaded_at": loaded_at,
            })
            items = run.items
            self.con.register("_items", items)
            n_before = self.con.execute("select count(*) from eval_results").fetchall()[0][0]
            self.con.execute(read_sql("load/insert_eval_results.sql"))
            n_after = self.con.execute("select count(*) from eval_results").fetchall()[0][0]
            self.con.unregister("_items")
            rep = LoadReport(files_loaded=1, loaded=int(n_after - n_before),
                             unchanged=int(len(items) - (n_after - n_before)))
            self._mark_loaded(summary, sha, "eval_result", len(items), rep)
            self.con.commit()
        except BaseException:
            self.con.rollback()
            raise
        return rep

    def load_sequence_stats(self, df: pd.DataFrame) -> int:
        """Upsert per-sequence statistics (columns of ``sequence_stats``; ``kind`` defaults to GT)."""
        df = df.copy()
        for col, default in (("kind", "ground_truth"), ("n_frames", None), ("consecutive_iou_mean", None),
                             ("flow_magnitude_mean", None), ("difficulty", None)):
            if col not in df.columns:
                df[col] = default
        df["computed_at"] = _now()
        self.con.register("_stats", df)
        try:
            self.con.execute(read_sql("load/upsert_sequence_stats.sql"))
        finally:
            self.con.unregister("_stats")
        return len(df)
