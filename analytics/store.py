"""The analytics store: one DuckDB file, one writer (this class), many read-only readers.

DuckDB lets one process write a database file, so every write goes through
:class:`AnalyticsStore`; jobs and workers write JSON/Parquet files that it ingests.

Loading rules (see ``sql/schema.sql``):

* **Idempotent**: every table has a primary key and inserts are ``insert or ignore``; reloading the
  same records changes no row.
* **Incremental**: a file whose sha256 is in ``loaded_files`` is skipped without being read.
* **Nothing valid is lost**: a bad record (truncated JSON, wrong types, unknown schema version,
  clicks outside the frame, iteration gaps, non-UTF-8 bytes) goes to ``quarantine`` with its
  file, position and reason, and every good record of the same file loads.
* **Duplicate session ids** (policy): the first loaded document wins. A later document with the
  same ``session_id`` and the same content (sha256 of its minified JSON) counts as *unchanged*; one
  with different content is quarantined with reason ``conflicting duplicate`` naming where the
  kept one came from. Inside one batch, the lower position is "first".

Validation is the session model of :mod:`ivos_core.interactions` (see
:mod:`analytics.validation`); flattening into frames / iterations / inputs is vectorised SQL
(``sql/load/*.sql``) over the accepted documents, so loads scale to millions of sessions.
"""

from __future__ import annotations

import json
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
    read_job_result_records,
)
from analytics.sources import RawRecord, SourceKind, expand_paths, file_sha256, iter_records
from analytics.sqlfiles import read_sql, sql_files
from analytics.validation import PARALLEL_MIN_RECORDS, Verdict, validate_batch

SNIPPET_CHARS = 300

_DOC_STRUCTURE = json.dumps(
    {
        "schema_version": "VARCHAR",
        "user_id": "VARCHAR",
        "source": "VARCHAR",
        "meta": "JSON",
        "video": {
            "uri": "VARCHAR", "width": "INTEGER", "height": "INTEGER", "n_frames": "INTEGER",
            "fps": "DOUBLE", "dataset": "VARCHAR", "sequence": "VARCHAR",
        },
        "frames": [
            {
                "frame_index": "INTEGER",
                "stage": "VARCHAR",
                "iterations": [
                    {
                        "index": "INTEGER",
                        "duration_s": "DOUBLE",
                        "inputs": [
                            {
                                "kind": "VARCHAR", "x": "DOUBLE", "y": "DOUBLE", "positive": "BOOLEAN",
                                "t": "DOUBLE", "radius": "DOUBLE", "points": "DOUBLE[][]",
                            }
                        ],
                    }
                ],
            }
        ],
    }
)

TABLES = (
    "sessions", "frames", "iterations", "inputs", "job_results", "eval_runs", "eval_results",
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


def connect_readonly(path: str | Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection for readers (reports, analysts); fails if the file does not exist."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no analytics database at {p}")
    return duckdb.connect(str(p), read_only=True)


def init_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the tables and macros (idempotent)."""
    con.execute(read_sql("schema.sql"))
    for f in sql_files("macros"):
        con.execute(f.read_text(encoding="utf-8"))


class AnalyticsStore:
    """The one writer of an analytics DuckDB file. Use as a context manager.

    ``workers``: processes used to validate large batches (default: CPU count; 1 disables).
    """

    def __init__(self, path: str | Path, workers: int | None = None, batch_size: int = 200_000):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        self.batch_size = batch_size
        self.con = duckdb.connect(str(self.path))
        init_schema(self.con)
        self._executor: Executor | None = None

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
            for batch in iter_records(path, kind, self.batch_size):
                n_records += len(batch)
                rep = rep + self._load_session_batch(path, sha, batch)
            self._mark_loaded(path, sha, "session", n_records, rep)
            self.con.commit()
        except BaseException:
            self.con.rollback()
            raise
        return rep

    def _load_session_batch(self, path: Path, sha: str, batch: list[RawRecord]) -> LoadReport:
        loaded_at = _now()
        quarantine: list[dict[str, Any]] = []
        texts: dict[int, str] = {}
        for rec in batch:
            if rec.text is None:
                quarantine.append(self._q(path, sha, rec.position, "session", None, rec.error or "unreadable",
                                          rec.snippet, loaded_at))
            else:
                texts[rec.position] = rec.text
        pool = self._pool() if len(texts) >= PARALLEL_MIN_RECORDS else None
        verdicts: list[Verdict] = validate_batch(list(texts.items()), str(path), pool)
        good_pos: list[int] = []
        good_ids: list[str] = []
        good_created: list[datetime] = []
        good_docs: list[str] = []
        for v in verdicts:
            if v.ok:
                good_pos.append(v.position)
                good_ids.append(v.session_id)  # type: ignore[arg-type]
                good_created.append(v.created_at)  # type: ignore[arg-type]
                good_docs.append(texts[v.position])
            else:
                quarantine.append(self._q(path, sha, v.position, "session", None, v.reason or "invalid",
                                          texts[v.position][:SNIPPET_CHARS], loaded_at))
        rep = LoadReport()
        if good_docs:
            incoming = pa.table({
                "position": pa.array(good_pos, pa.int64()),
                "session_id": pa.array(good_ids, pa.string()),
                "created_at": pa.array(good_created, pa.timestamp("us", tz="UTC")),
                "document": pa.array(good_docs, pa.string()),
            })
            rep = self._insert_sessions(path, incoming, loaded_at, sha, quarantine)
        self._insert_quarantine(quarantine)
        rep.quarantined += len(quarantine)
        return rep

    def _insert_sessions(
        self, path: Path, incoming: pa.Table, loaded_at: datetime, sha: str, quarantine: list[dict[str, Any]]
    ) -> LoadReport:
        con = self.con
        con.register("_incoming", incoming)
        try:
            con.execute(
                """
                create or replace temp table _stage as
                select position, session_id, created_at, document, sha256(json(document)) as content_sha256,
                       row_number() over (partition by session_id order by position) as rn
                from _incoming
                """
            )
        finally:
            con.unregister("_incoming")
        status = con.execute(
            """
            select s.position, s.session_id,
                   case
                       when e.session_id is not null then
                           case when e.content_sha256 = s.content_sha256 then 'unchanged' else 'conflict' end
                       when s.rn > 1 then
                           case when f.content_sha256 = s.content_sha256 then 'unchanged' else 'conflict' end
                       else 'new'
                   end as status,
                   coalesce(e.source_file || ':' || e.source_position, ? || ':' || f.position) as kept_from,
                   left(s.document, ?) as snippet
            from _stage as s
            left join sessions as e using (session_id)
            left join _stage as f on f.session_id = s.session_id and f.rn = 1
            where e.session_id is not null or s.rn > 1
            """,
            [str(path), SNIPPET_CHARS],
        ).df()
        n_unchanged = int((status["status"] == "unchanged").sum()) if len(status) else 0
        for row in status[status["status"] == "conflict"].itertuples(index=False) if len(status) else []:
            quarantine.append(self._q(
                path, sha, int(row.position), "session", row.session_id,
                f"conflicting duplicate: session_id {row.session_id!r} was already loaded from "
                f"{row.kept_from} with different content (policy: the first loaded document is kept)",
                row.snippet, loaded_at,
            ))
        con.execute(
            f"""
            create or replace temp table _new_docs as
            select s.session_id, s.created_at, s.content_sha256, ? as source_file,
                   s.position as source_position, ?::timestamptz as loaded_at,
                   json_transform(s.document, '{_DOC_STRUCTURE}') as doc
            from _stage as s
            anti join sessions as e using (session_id)
            where s.rn = 1
            """,
            [str(path), loaded_at],
        )
        n_new = con.execute("select count(*) from _new_docs").fetchall()[0][0]
        for name in ("insert_sessions", "insert_frames", "insert_iterations", "insert_inputs"):
            con.execute(read_sql(f"load/{name}.sql"))
        con.execute("drop table _new_docs")
        con.execute("drop table _stage")
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
            self.con.execute("insert or ignore into quarantine by name select * from _q_df")
        finally:
            self.con.unregister("_q_df")

    def _mark_loaded(self, path: Path, sha: str, kind: str, n_records: int, rep: LoadReport) -> None:
        self.con.execute(
            "insert or ignore into loaded_files values (?, ?, ?, ?, ?, ?, ?, ?)",
            [sha, str(path), kind, n_records, rep.loaded, rep.unchanged, rep.quarantined, _now()],
        )

    # -- job and evaluation results ----------------------------------------------------------
    def load_job_results(self, paths: Sequence[Path | str]) -> LoadReport:
        """Load job result records (JSON / JSONL / Parquet; columns in :mod:`analytics.results`).

        Policy: one row per (session_id, model_version); a record with a later ``finished_at``
        replaces the stored one (a rerun), an identical or older one counts as unchanged.
        """
        report = LoadReport()
        for path, kind in expand_paths(paths):
            sha = file_sha256(path)
            if self._already_loaded(sha):
                report = report + LoadReport(files_skipped=1)
                continue
            loaded_at = _now()
            good, bad = read_job_result_records(path, kind)
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
            self.con.execute(
                "insert or ignore into eval_runs values (?, ?, ?, ?, ?, ?, ?, ?)",
                [run.run_id, run.dataset, run.method, run.created_at, run.seed, run.summary_json,
                 str(summary), loaded_at],
            )
            items = run.items
            self.con.register("_items", items)
            n_before = self.con.execute("select count(*) from eval_results").fetchall()[0][0]
            self.con.execute(
                """
                insert or ignore into eval_results
                select run_id, dataset, sequence, method, metric, value from _items
                qualify row_number() over (partition by run_id, sequence, metric) = 1
                """
            )
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
            self.con.execute(
                """
                insert or replace into sequence_stats
                select dataset, sequence, kind, n_frames::integer, consecutive_iou_mean::double,
                       flow_magnitude_mean::double, difficulty::double, computed_at
                from _stats
                qualify row_number() over (partition by dataset, sequence, kind) = 1
                """
            )
        finally:
            self.con.unregister("_stats")
        return len(df)
