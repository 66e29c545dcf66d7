"""Job and evaluation result records: the expected columns and their readers.

**Job results** (one record per replay job, keyed by ``(session_id, model_version)``), as JSON (an
object or an array of objects), JSONL, or Parquet with these columns:

========================  ==========  =========================================================
session_id                str         the replayed session (required)
model_version             str         checkpoint / model version that ran (required)
job_id                    str         optional
status                    str         ``ok`` (default) or ``failed``
started_at, finished_at   ISO time    optional; ``finished_at`` orders reruns
runtime_s                 float >= 0  wall time of the job
device                    str         ``cpu`` / ``cuda`` ...
n_frames, n_iterations    int >= 0    frames propagated, interactive iterations replayed
mean_iteration_s          float >= 0  mean latency of one interactive prediction
mask_area_mean            float 0..1  mean foreground fraction of the output masks
consecutive_iou_mean      float 0..1  mean IoU between consecutive output masks
final_iou                 float 0..1  IoU against ground truth when it exists
========================  ==========  =========================================================

A record may hold ``objects``: one entry per object (``object_id`` 1..254, ``name``, ``n_iterations``,
``n_annotated_frames``, ``mask_area_mean``, ``consecutive_iou_mean``, ``mean_confidence``,
``final_iou``; :class:`ivos_core.jobs.record.JobObjectResult`), loaded into ``job_object_results``; a
record without them is one object, id 1, with the job's own values.

**Evaluation runs** (``ivos eval`` output): a folder with ``summary.json`` — keys ``dataset``,
``method`` (required), ``run_id`` (default: hash of the files), ``created_at``, ``seed``, optional
``items`` (the per-item file name) — and a per-item table (``items.parquet`` / ``per_item.parquet``
/ the only ``*.parquet`` or ``*.csv`` there) with an item column ``sequence`` (or ``item`` /
``image``) and either long form ``metric``, ``value`` or one numeric column per metric (``J_mean``,
``F_mean``, ``noc@90``, ``iou@5`` ...).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from analytics.sources import iter_records
from ivos_core.jobs.record import JOB_COLUMNS, OBJECT_COLUMNS, JobObjectResult, JobResult
from ivos_core.utils import file_sha256

ITEM_COLUMNS = ("sequence", "item", "image")


@dataclass(frozen=True)
class BadRecord:
    position: int
    reason: str
    snippet: str | None


class ResultRecordError(ValueError):
    def __init__(self, position: int, reason: str, snippet: str | None = None):
        super().__init__(reason)
        self.position, self.reason, self.snippet = position, reason, snippet


def _utc(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def _object_rows(data: dict[str, Any], job: JobResult) -> list[dict[str, Any]]:
    """The per-object rows of one valid job record (``ValueError`` naming the bad entry)."""
    entries = data.get("objects") if isinstance(data, dict) else None
    if not entries:  # written before objects existed: object 1 is the whole job
        entries = [{"object_id": 1, **job.model_dump(include={"n_iterations", "mask_area_mean",
                                                              "consecutive_iou_mean", "final_iou"})}]
    if not isinstance(entries, list):
        raise ValueError(f"objects: expected a list, got {type(entries).__name__}")
    rows = []
    for i, e in enumerate(entries):
        try:
            rows.append(JobObjectResult.model_validate(e).model_dump())
        except ValidationError as exc:
            err = exc.errors()[0]
            raise ValueError(f"objects[{i}].{'.'.join(map(str, err['loc'])) or '<entry>'}: {err['msg']}") from None
    ids = [r["object_id"] for r in rows]
    if len(set(ids)) != len(ids):
        raise ValueError(f"objects: object ids must be unique, got {ids}")
    return [{"session_id": job.session_id, "model_version": job.model_version, **r} for r in rows]


def _records(path: Path, kind: str, bad: list[BadRecord]) -> list[tuple[int, Any]]:
    """``(position, record)`` pairs of a JSON / JSONL / Parquet file; unreadable ones go to ``bad``."""
    if kind == "parquet":
        import pyarrow.parquet as pq

        return [(i, r) for i, r in enumerate(pq.read_table(path).to_pylist(), start=1)]
    records = []
    for batch in iter_records(path, kind):
        for rec in batch:
            if rec.text is None:
                bad.append(BadRecord(rec.position, rec.error or "unreadable", rec.snippet))
                continue
            try:
                data = json.loads(rec.text)
            except json.JSONDecodeError as exc:
                bad.append(BadRecord(rec.position, f"not valid JSON: {exc}", rec.text[:300]))
                continue
            items = data if isinstance(data, list) and kind == "json" else [data]
            records.extend((rec.position + k, item) for k, item in enumerate(items))
    return records


def read_job_results(path: Path, kind: str) -> tuple[pd.DataFrame, pd.DataFrame, list[BadRecord]]:
    """Validated job results of one file: a frame with :data:`JOB_COLUMNS`, one with the key plus
    :data:`OBJECT_COLUMNS` (one row per job and object), and the bad records."""
    rows: list[dict[str, Any]] = []
    objects: list[dict[str, Any]] = []
    bad: list[BadRecord] = []
    for pos, data in _records(path, kind, bad):
        try:
            r = JobResult.model_validate(data)
        except ValidationError as exc:
            reason = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<record>'}: {e['msg']}" for e in exc.errors())
            bad.append(BadRecord(pos, reason[:2000], json.dumps(data, default=str)[:300]))
            continue
        try:
            obj = _object_rows(data, r)
        except ValueError as exc:
            bad.append(BadRecord(pos, str(exc)[:2000], json.dumps(data, default=str)[:300]))
            continue
        d = r.model_dump()
        d["started_at"], d["finished_at"] = _utc(r.started_at), _utc(r.finished_at)
        d["_order"] = len(rows)
        rows.append(d)
        objects.extend(dict(o, _order=d["_order"]) for o in obj)
    df = pd.DataFrame(rows, columns=[*JOB_COLUMNS, "_order"])
    for col in ("started_at", "finished_at"):
        df[col] = pd.to_datetime(df[col], utc=True)
    # dedupe inside the file: the latest finished_at of a key wins (then the later record)
    df = (df.sort_values(["finished_at", "_order"], na_position="first")
            .drop_duplicates(["session_id", "model_version"], keep="last"))
    obj_df = pd.DataFrame(objects, columns=["session_id", "model_version", *OBJECT_COLUMNS, "_order"])
    obj_df = obj_df[obj_df["_order"].isin(df["_order"])].drop(columns="_order")
    return df.drop(columns="_order"), obj_df, bad


def read_job_result_records(path: Path, kind: str) -> tuple[pd.DataFrame, list[BadRecord]]:
    """Validated job results of one file as a frame with :data:`JOB_COLUMNS`, plus the bad ones."""
    jobs, _objects, bad = read_job_results(path, kind)
    return jobs, bad


@dataclass(frozen=True)
class EvalRun:
    run_id: str
    dataset: str
    method: str
    created_at: datetime | None
    seed: int | None
    summary_json: str
    items: pd.DataFrame  # run_id, dataset, sequence, method, metric, value
    content_sha256: str


def _find_item_file(folder: Path, summary: dict[str, Any]) -> Path | None:
    if summary.get("items"):
        p = folder / str(summary["items"])
        if not p.is_file():
            raise ResultRecordError(1, f"summary names items file {p.name!r}, which does not exist")
        return p
    for name in ("items.parquet", "per_item.parquet", "items.csv", "per_item.csv"):
        if (folder / name).is_file():
            return folder / name
    cands = sorted(folder.glob("*.parquet")) + sorted(folder.glob("*.csv"))
    return cands[0] if len(cands) == 1 else None


def read_eval_run(summary_path: Path) -> EvalRun:
    """Read a summary.json and its per-item table into long-form rows (raises ResultRecordError)."""
    raw = summary_path.read_bytes()
    try:
        summary = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultRecordError(1, f"summary is not valid UTF-8 JSON: {exc}",
                                raw[:300].decode("utf-8", "replace")) from exc
    if not isinstance(summary, dict):
        raise ResultRecordError(1, "summary is not a JSON object")
    missing = [k for k in ("dataset", "method") if not isinstance(summary.get(k), str) or not summary.get(k)]
    if missing:
        raise ResultRecordError(1, f"summary lacks string field(s) {missing}", raw[:300].decode("utf-8", "replace"))
    item_file = _find_item_file(summary_path.parent, summary)
    h = hashlib.sha256(raw)
    items = pd.DataFrame(columns=["sequence", "metric", "value"])
    if item_file is not None:
        h.update(file_sha256(item_file).encode())
        table = pd.read_parquet(item_file) if item_file.suffix == ".parquet" else pd.read_csv(item_file)
        items = _long_items(table, item_file)
    run_id = str(summary.get("run_id") or h.hexdigest()[:16])
    created = summary.get("created_at")
    created_at = _utc(datetime.fromisoformat(created)) if isinstance(created, str) else None
    seed = summary.get("seed") if isinstance(summary.get("seed"), int) else None
    items = items.assign(run_id=run_id, dataset=summary["dataset"], method=summary["method"])
    items["value"] = pd.to_numeric(items["value"], errors="coerce").astype("float64")
    items["sequence"] = items["sequence"].astype(str)
    items["metric"] = items["metric"].astype(str)
    return EvalRun(run_id, summary["dataset"], summary["method"], created_at, seed,
                   json.dumps(summary, sort_keys=True), items, h.hexdigest())


def _long_items(table: pd.DataFrame, where: Path) -> pd.DataFrame:
    item_col = next((c for c in ITEM_COLUMNS if c in table.columns), None)
    if item_col is None:
        raise ResultRecordError(1, f"{where.name} has no item column (one of {ITEM_COLUMNS})")
    if {"metric", "value"} <= set(table.columns):
        out = table[[item_col, "metric", "value"]]
    else:
        numeric = [c for c in table.select_dtypes("number").columns if c not in ITEM_COLUMNS]
        out = table.melt(id_vars=[item_col], value_vars=numeric, var_name="metric", value_name="value")
    return out.rename(columns={item_col: "sequence"})
