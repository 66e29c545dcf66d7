"""Loading job results, evaluation runs and per-sequence statistics (each file in one transaction).

Record formats and their validation are in :mod:`analytics.results`; the SQL in ``sql/load``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import pandas as pd

from analytics.bookkeeping import (
    LoadReport,
    already_loaded,
    insert_quarantine,
    mark_loaded,
    now,
    quarantine_row,
)
from analytics.results import (
    EvalRun,
    ResultRecordError,
    read_eval_run,
    read_job_results,
)
from analytics.sources import expand_paths
from analytics.sqlfiles import read_sql, registered
from ivos_core.utils import file_sha256

if TYPE_CHECKING:
    import duckdb

__all__ = ["load_job_results", "load_eval_results", "load_sequence_stats"]


def load_job_results(con: "duckdb.DuckDBPyConnection", paths: Sequence[Path | str]) -> LoadReport:
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
        if already_loaded(con, sha):
            report = report + LoadReport(files_skipped=1)
            continue
        report = report + _load_job_file(con, path, kind, sha)
    return report


def _load_job_file(con: "duckdb.DuckDBPyConnection", path: Path, kind: str, sha: str) -> LoadReport:
    loaded_at = now()
    good, objects, bad = read_job_results(path, kind)
    quarantine = [quarantine_row(path, sha, e.position, "job_result", None, e.reason, e.snippet, loaded_at)
                  for e in bad]
    rep = LoadReport(files_loaded=1)
    con.begin()
    try:
        if len(good):
            good = good.assign(source_file=str(path), loaded_at=loaded_at)
            with registered(con, "_jobs", good):
                changed = con.execute(read_sql("load/upsert_job_results.sql")).fetchall()[0][0]
            _replace_job_objects(con, objects, str(path), loaded_at)
            rep.loaded = int(changed or 0)  # inserted + replaced rows
            rep.unchanged = len(good) - rep.loaded
        insert_quarantine(con, quarantine)
        rep.quarantined = len(quarantine)
        mark_loaded(con, path, sha, "job_result", len(good) + len(bad), rep)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return rep


def _replace_job_objects(con: "duckdb.DuckDBPyConnection", objects: pd.DataFrame, source_file: str,
                         loaded_at: datetime) -> None:
    """The per-object rows of the jobs this load inserted or replaced (inside its transaction)."""
    params = {"source_file": source_file, "loaded_at": loaded_at}
    con.execute(read_sql("load/delete_job_objects.sql"), params)
    with registered(con, "_job_objects", objects):
        con.execute(read_sql("load/insert_job_objects.sql"), params)


def load_eval_results(con: "duckdb.DuckDBPyConnection", paths: Sequence[Path | str]) -> LoadReport:
    """Load evaluation runs: a ``summary.json`` file or a run folder holding one (see results)."""
    report = LoadReport()
    for raw in paths:
        p = Path(raw)
        summaries = sorted(p.rglob("summary.json")) if p.is_dir() else [p]
        for summary in summaries:
            report = report + _load_eval_run(con, summary)
    return report


def _load_eval_run(con: "duckdb.DuckDBPyConnection", summary: Path) -> LoadReport:
    sha = file_sha256(summary)
    try:
        run: EvalRun = read_eval_run(summary)
    except ResultRecordError as exc:
        if already_loaded(con, sha):
            return LoadReport(files_skipped=1)
        q = quarantine_row(summary, sha, exc.position, "eval_result", None, exc.reason, exc.snippet, now())
        con.begin()
        insert_quarantine(con, [q])
        rep = LoadReport(files_loaded=1, quarantined=1)
        mark_loaded(con, summary, sha, "eval_result", 1, rep)
        con.commit()
        return rep
    # a run is identified by its summary plus its item file(s)
    sha = run.content_sha256
    if already_loaded(con, sha):
        return LoadReport(files_skipped=1)
    loaded_at = now()
    con.begin()
    try:
        con.execute(read_sql("load/insert_eval_run.sql"), {
            "run_id": run.run_id, "dataset": run.dataset, "method": run.method, "created_at": run.created_at,
            "seed": run.seed, "summary_json": run.summary_json, "source_file": str(summary), "loaded_at": loaded_at,
        })
        items = run.items
        with registered(con, "_items", items):
            n_before = con.execute("select count(*) from eval_results").fetchall()[0][0]
            con.execute(read_sql("load/insert_eval_results.sql"))
            n_after = con.execute("select count(*) from eval_results").fetchall()[0][0]
        rep = LoadReport(files_loaded=1, loaded=int(n_after - n_before),
                         unchanged=int(len(items) - (n_after - n_before)))
        mark_loaded(con, summary, sha, "eval_result", len(items), rep)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return rep


def load_sequence_stats(con: "duckdb.DuckDBPyConnection", df: pd.DataFrame) -> int:
    """Upsert per-sequence statistics (columns of ``sequence_stats``; ``kind`` defaults to GT)."""
    df = df.copy()
    for col, default in (("kind", "ground_truth"), ("n_frames", None), ("consecutive_iou_mean", None),
                         ("flow_magnitude_mean", None), ("difficulty", None)):
        if col not in df.columns:
            df[col] = default
    df["computed_at"] = now()
    with registered(con, "_stats", df):
        con.execute(read_sql("load/upsert_sequence_stats.sql"))
    return len(df)
