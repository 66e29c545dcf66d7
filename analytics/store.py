"""The analytics store: one DuckDB file, one writer (this class), many read-only readers.

DuckDB lets one process write a database file, so every write goes through
:class:`AnalyticsStore`; jobs and workers write JSON/Parquet files that it ingests. The store is a
thin facade over one-job modules: :mod:`analytics.connection` (connections and DuckDB settings),
:mod:`analytics.staging` (a file streamed in batches), :mod:`analytics.session_load` (one batch
validated and inserted), :mod:`analytics.bookkeeping` (counts, quarantine, loaded files, progress),
:mod:`analytics.result_load` (job / evaluation results) and :mod:`analytics.snapshot`.

Loading rules (see ``sql/schema.sql``):

* **Idempotent**: sessions and the other top-level tables have primary keys and inserts are
  ``insert or ignore`` / upserts; a session's frames / iterations / inputs are written only in the
  transaction that inserts its new ``sessions`` row (no index on them: it doubled the load time at
  10M inputs; ``sql/tests/child_keys_unique.sql`` checks their keys). Reloading changes no row.
* **Incremental**: a file whose sha256 is in ``loaded_files`` is skipped without being read.
* **Bounded memory, resumable**: a session file streams in batches of ``batch_size`` records
  (:mod:`analytics.staging`); each batch is validated, inserted and **committed** on its own, with
  ``load_progress`` saying how far the file got. A load killed mid-file keeps every committed
  batch (a session is in whole or not at all) and the next load of the file resumes after the
  last committed record: the final rows and counts equal those of a load that was never stopped.
  The file enters ``loaded_files`` (and leaves ``load_progress``) after its last batch.
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
which accepts them or gives the quarantine reason. Each document is parsed once into a typed
struct that validation and the flattening into frames / iterations / inputs (vectorised SQL,
``sql/load/*.sql``) share.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from contextlib import closing
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from analytics import result_load
from analytics.bookkeeping import (
    SNIPPET_CHARS,
    LoadReport,
    Progress,
    already_loaded,
    clear_progress,
    mark_loaded,
    read_progress,
    write_progress,
)
from analytics.connection import (
    DEFAULT_MEMORY_LIMIT,
    MEMORY_LIMIT_ENV,
    TEMP_DIRECTORY_ENV,
    THREADS_ENV,
    connect_readonly,
    connect_writer,
    duckdb_config,
    init_schema,
)
from analytics.session_load import load_batch
from analytics.snapshot import publish_snapshot, snapshot_path
from analytics.sources import SourceKind, expand_paths
from analytics.staging import read_ahead, stream_batches
from analytics.validation import PARALLEL_MIN_RECORDS
from ivos_core.utils import file_sha256

__all__ = [
    "AnalyticsStore", "LoadReport", "TABLES", "SNIPPET_CHARS", "DEFAULT_BATCH_SIZE", "BATCH_SIZE_ENV",
    "DEFAULT_MEMORY_LIMIT", "MEMORY_LIMIT_ENV", "THREADS_ENV", "TEMP_DIRECTORY_ENV",
    "duckdb_config", "connect_readonly", "init_schema",
]

log = logging.getLogger("analytics.load")

#: records per batch of a session file: the unit of memory and of commit (``batch_size=`` or
#: ``$IVOS_ANALYTICS_BATCH_SIZE``). 1M sessions, one run (docs/results/bench/analytics-1m-*-2026-12-02b.json):
#: 25k 70.0 s / 1326 MiB, 50k 67.8 s / 1614 MiB (the fastest within 2 GB); 100k with the old
#: pre-buffered reader and a 2GB limit passed 2.7 GB
DEFAULT_BATCH_SIZE = 50_000
BATCH_SIZE_ENV = "IVOS_ANALYTICS_BATCH_SIZE"

TABLES = (
    "sessions", "frames", "iterations", "inputs", "job_results", "job_object_results", "eval_runs", "eval_results",
    "sequence_stats", "quarantine", "loaded_files",
)


def _batch_size(value: int | None) -> int:
    raw = value if value is not None else os.environ.get(BATCH_SIZE_ENV) or DEFAULT_BATCH_SIZE
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"{BATCH_SIZE_ENV} / batch_size must be a positive integer, got {raw!r}")
    return n


class AnalyticsStore:
    """The one writer of an analytics DuckDB file. Use as a context manager.

    ``workers``: processes used to validate large batches (default: CPU count; 1 disables).
    ``batch_size``: records of a session file per batch and commit (default 50,000, or
    ``$IVOS_ANALYTICS_BATCH_SIZE``). ``memory_limit`` / ``threads`` / ``temp_directory``: DuckDB's,
    see :mod:`analytics.connection` (default 1GB, DuckDB's threads, ``<db>.tmp``; or
    ``$IVOS_DUCKDB_MEMORY_LIMIT`` / ``$IVOS_DUCKDB_THREADS`` / ``$IVOS_DUCKDB_TEMP_DIRECTORY``).
    """

    def __init__(self, path: str | Path, workers: int | None = None, batch_size: int | None = None, *,
                 memory_limit: str | None = None, threads: int | None = None,
                 temp_directory: str | Path | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        self.batch_size = _batch_size(batch_size)
        self.con = connect_writer(self.path, memory_limit=memory_limit, threads=threads,
                                  temp_directory=temp_directory)
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

    def _pool_for(self, n_items: int) -> Executor | None:
        """The validation pool for ``n_items`` documents (None: validate in this process)."""
        if self.workers <= 1 or n_items < PARALLEL_MIN_RECORDS:
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
        """Load session logs from files and directories; see the module docstring for the rules.

        A file resumed after an interrupted load reports the counts of the whole file (its
        committed batches included), as a load that was never stopped would."""
        report = LoadReport()
        for path, kind in expand_paths(paths, source_kind):
            report = report + self._load_session_file(path, kind)
        return report

    def _load_session_file(self, path: Path, kind: str) -> LoadReport:
        sha = file_sha256(path)
        if already_loaded(self.con, sha):
            return LoadReport(files_skipped=1)
        progress = read_progress(self.con, sha)
        if progress.position:
            log.info("%s: resuming after record %d (%d committed)", path, progress.position, progress.n_records)
        # closing(): a failed batch stops the read-ahead thread now, not when the traceback is freed
        with closing(read_ahead(stream_batches(path, kind, self.batch_size, start_after=progress.position))) as batches:
            for batch in batches:
                self._in_transaction(lambda b=batch: self._commit_batch(path, sha, b, progress))
                log.info("%s: committed through record %d (%d records)", path, progress.position, progress.n_records)
        rep = progress.report or LoadReport(files_loaded=1)

        def finish() -> None:
            mark_loaded(self.con, path, sha, "session", progress.n_records, rep)
            clear_progress(self.con, sha)

        self._in_transaction(finish)
        return rep

    def _commit_batch(self, path: Path, sha: str, batch: Any, progress: Progress) -> None:
        """Load one batch and record the file's progress (inside the batch's transaction)."""
        res = load_batch(self.con, batch, path, sha, self._pool_for)
        self.validated_fast += res.validated_fast
        self.validated_by_model += res.validated_by_model
        new = Progress(batch.last_position, progress.n_records + batch.n_records,
                       (progress.report or LoadReport(files_loaded=1)) + res.report)
        write_progress(self.con, path, sha, new)
        # the caller commits next; ``progress`` follows only once the statements all ran
        progress.position, progress.n_records, progress.report = new.position, new.n_records, new.report

    def _in_transaction(self, fn: Any) -> None:
        self.con.begin()
        try:
            fn()
            self.con.commit()
        except BaseException:
            self.con.rollback()
            raise

    # -- job and evaluation results, sequence statistics ----------------------------------------
    def load_job_results(self, paths: Sequence[Path | str]) -> LoadReport:
        """Load job result records; see :func:`analytics.result_load.load_job_results`."""
        return result_load.load_job_results(self.con, paths)

    def load_eval_results(self, paths: Sequence[Path | str]) -> LoadReport:
        """Load evaluation runs: a ``summary.json`` file or a run folder holding one (see results)."""
        return result_load.load_eval_results(self.con, paths)

    def load_sequence_stats(self, df: pd.DataFrame) -> int:
        """Upsert per-sequence statistics (columns of ``sequence_stats``; ``kind`` defaults to GT)."""
        return result_load.load_sequence_stats(self.con, df)
