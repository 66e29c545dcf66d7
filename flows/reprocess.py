"""Prefect flow ``reprocess-sessions``: re-run stored session logs with a model, compare versions.

* ``sessions``: folders (every ``*.json`` below them) and/or glob patterns;
* bounded fan-out: ``ThreadPoolTaskRunner(max_workers=max_concurrency)`` here,
  ``ProcessPoolTaskRunner`` (``task_runner="processes"``: CPU-bound replays, whose CRF and GrabCut
  hold the GIL, run truly in parallel), or
  ``prefect_dask.DaskTaskRunner`` (``task_runner="dask"``, with ``dask_address`` for an existing
  cluster of many machines) when ``prefect-dask`` is installed;
* sessions already done for this model version are skipped (no work);
* a failed session is listed with its reason; the others complete;
* comparison report (``compare_to``: a model name or a version folder under ``out``): per session
  mean IoU between the two versions' masks, and each version's mean IoU against ground truth when
  the session's video has annotations. Written to ``<out>/reports/`` (JSON + CSV) and as a table
  artifact; progress is a progress artifact.
"""

from __future__ import annotations

import glob as _glob
import json
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact

from flows.progress import FlowProgress, artifact_key
from flows.segment_video import default_out
from ivos_core.shipped import DEFAULT_MODEL


def expand_sessions(patterns: list[str] | str) -> list[Path]:
    """Folders -> their ``**/*.json``; globs expanded; files kept; sorted, de-duplicated."""
    items = [patterns] if isinstance(patterns, str) else list(patterns)
    found: dict[str, Path] = {}
    for item in items:
        p = Path(item)
        if p.is_dir():
            hits = list(p.rglob("*.json"))
        elif any(c in item for c in "*?["):
            hits = [Path(h) for h in _glob.glob(item, recursive=True)]
        else:
            hits = [p]
        for h in hits:
            found[str(h.resolve())] = h.resolve()
    return [found[k] for k in sorted(found)]


@task(name="reprocess-session")
def reprocess_one(session_path: str, model: dict[str, Any], out: str, video_roots: list[str] | None, device: str) -> dict[str, Any]:
    """Validate + replay + write one session (raises on failure; the flow records the reason)."""
    from ivos_core.interactions import load_session
    from ivos_core.jobs import (
        ModelVersion,
        is_done,
        output_dir,
        replay_session,
        write_outputs,
    )

    spec = ModelVersion.from_dict(model)
    s = load_session(session_path)
    if is_done(out, s.session_id, spec.version):
        return {"session": session_path, "session_id": s.session_id, "status": "skipped", "out": str(output_dir(out, s.session_id, spec.version))}
    r = replay_session(s, video_roots=video_roots, spec=spec, device=device)
    return {"session": session_path, "session_id": s.session_id, "status": "done", "out": str(write_outputs(r, out))}


def compare_outputs(dir_a: Path, dir_b: Path) -> dict[str, Any]:
    """Mean IoU between two job folders' masks, plus each one's mean IoU to ground truth."""
    import numpy as np

    from ivos_core.export import read_mask_png
    from ivos_core.metrics import iou

    a = sorted((dir_a / "masks").glob("*.png"))
    b = {p.name: p for p in (dir_b / "masks").glob("*.png")}
    vals = [iou(read_mask_png(p) > 0, read_mask_png(b[p.name]) > 0) for p in a if p.name in b]

    def gt(d: Path) -> float | None:
        try:
            return json.loads((d / "results.json").read_text())["summary"].get("mean_iou_gt")
        except (OSError, KeyError, ValueError):
            return None

    return {"mean_iou_between": float(np.mean(vals)) if vals else None, "n_frames": len(vals), "iou_gt_a": gt(dir_a), "iou_gt_b": gt(dir_b)}


def resolve_version(out: str, name: str, models_dir: str | None = None) -> str:
    """A version folder under ``out`` (exact), else the newest ``<name>-*`` folder, else the
    version the model ``name`` resolves to now."""
    from ivos_core.jobs import resolve_model

    base = Path(out)
    if (base / name).is_dir():
        return name
    cands = sorted((d for d in base.glob(f"{_glob.escape(name)}-*") if d.is_dir()), key=lambda d: d.stat().st_mtime)
    if cands:
        return cands[-1].name
    return resolve_model(name, models_dir=models_dir).version


def _runner(kind: str, max_concurrency: int, dask_address: str | None):
    if kind == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=max(1, int(max_concurrency)))
    if kind == "processes":  # CPU-bound replays (CRF, GrabCut, OSVOS on CPU hold the GIL): one process each
        from prefect.task_runners import ProcessPoolTaskRunner

        return ProcessPoolTaskRunner(max_workers=max(1, int(max_concurrency)))
    if kind == "dask":
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError as exc:
            raise RuntimeError(
                "task_runner='dask' needs the prefect-dask package (pip install prefect-dask); "
                "use task_runner='threads' on one machine"
            ) from exc
        if dask_address:
            return DaskTaskRunner(address=dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": max(1, int(max_concurrency)), "threads_per_worker": 1})
    raise ValueError(f"unknown task_runner {kind!r}; choose 'threads', 'processes' or 'dask'")


@flow(name="reprocess-sessions", log_prints=True)
def reprocess_flow(
    sessions: list[str],
    model: str = DEFAULT_MODEL,
    compare_to: str | None = None,
    out: str | None = None,
    video_roots: list[str] | None = None,
    models_dir: str | None = None,
    interactive_checkpoint: str | None = None,
    interactive: str | None = None,
    osvos_checkpoint: str | None = None,
    finetune_steps: int | None = None,
    max_concurrency: int = 2,
    task_runner: str = "threads",
    dask_address: str | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """Re-run every session under ``sessions`` with ``model``; returns the report (also on disk)."""
    from ivos_core.jobs import resolve_model

    out = out or default_out()
    spec = resolve_model(
        model, models_dir=models_dir, interactive_checkpoint=interactive_checkpoint, interactive=interactive,
        osvos_checkpoint=osvos_checkpoint, finetune_steps=finetune_steps,
    )
    version = spec.version
    paths = expand_sessions(sessions)
    rows, todo = _plan_sessions(paths, out, version)
    progress = FlowProgress(artifact_key("reprocess", model), f"reprocess {len(paths)} sessions with {version}", min_interval=1.0)
    progress(len(rows), len(paths), "")
    params = {"model": spec.to_dict(), "out": out, "video_roots": video_roots, "device": device}
    _run_sessions(todo, params, rows, progress, len(paths), runner_args=(task_runner, max_concurrency, dask_address))
    other = None
    if compare_to:
        other = resolve_version(out, compare_to, models_dir)
        _add_comparisons(rows, out, version, other)
    report = {
        "model_version": version,
        "compare_to": other,
        "n_sessions": len(paths),
        "n_done": sum(r["status"] == "done" for r in rows),
        "n_skipped": sum(r["status"] == "skipped" for r in rows),
        "n_failed": sum(r["status"] == "failed" for r in rows),
        "sessions": rows,
    }
    report["report"] = _write_report(report, rows, out, version, other)
    table = [{k: r.get(k) for k in ("session_id", "status", "mean_iou_between", "iou_gt_a", "iou_gt_b", "reason")} for r in rows]
    create_table_artifact(table, key=artifact_key("reprocess-report", model), description=f"reprocess with {version}" + (f" vs {other}" if other else ""))
    for r in rows:
        if r["status"] == "failed":
            print(f"FAILED {r['session']}: {r.get('reason')}")
    return report


def _plan_sessions(paths: list[Path], out: str, version: str) -> tuple[list[dict[str, Any]], list[tuple[Path, str]]]:
    """Rows for sessions that need no run (invalid: failed; already done with ``version``:
    skipped, so a rerun is idempotent) and the (path, session id) pairs still to run."""
    from ivos_core.interactions import SessionValidationError, load_session
    from ivos_core.jobs import is_done, output_dir

    rows: list[dict[str, Any]] = []
    todo: list[tuple[Path, str]] = []
    for p in paths:
        try:
            s = load_session(p)
        except SessionValidationError as exc:
            rows.append({"session": str(p), "session_id": None, "status": "failed", "reason": " ".join(str(exc).split())[:500]})
            continue
        if is_done(out, s.session_id, version):
            rows.append({"session": str(p), "session_id": s.session_id, "status": "skipped", "out": str(output_dir(out, s.session_id, version))})
        else:
            todo.append((p, s.session_id))
    return rows, todo


def _run_sessions(todo: list[tuple[Path, str]], params: dict[str, Any], rows: list[dict[str, Any]],
                  progress: Any, total: int, *, runner_args: tuple[str, int, str | None]) -> None:
    """Submit one ``reprocess_one`` task per session and append each outcome to ``rows`` in
    submission order; a failed task becomes a failed row (its first line as the reason) and the
    rest still complete."""
    done = len(rows)
    with _runner(*runner_args) as runner:
        futures = [
            (p, sid, runner.submit(reprocess_one, parameters={"session_path": str(p), **params}))
            for p, sid in todo
        ]
        for p, sid, fut in futures:
            fut.wait()
            state = fut.state
            if state.is_completed():
                rows.append(state.result())
            else:
                try:
                    state.result()
                    reason = state.message or state.name
                except Exception as exc:  # noqa: BLE001 - listed, the rest completes
                    reason = f"{type(exc).__name__}: {exc}"
                rows.append({"session": str(p), "session_id": sid, "status": "failed", "reason": reason.splitlines()[0]})
            done += 1
            progress(done, total, sid)


def _add_comparisons(rows: list[dict[str, Any]], out: str, version: str, other: str) -> None:
    """Add to each done/skipped row how its outputs compare with those of model ``other``
    (``mean_iou_between`` None and a note where ``other`` has no outputs for that session)."""
    from ivos_core.jobs import output_dir

    for r in rows:
        if r.get("status") in ("done", "skipped") and r.get("session_id"):
            a = output_dir(out, r["session_id"], version)
            b = output_dir(out, r["session_id"], other)
            if (b / "DONE").is_file():
                r.update(compare_outputs(a, b))
            else:
                r["mean_iou_between"] = None
                r["compare_note"] = f"no outputs for {other}"


def _write_report(report: dict[str, Any], rows: list[dict[str, Any]], out: str, version: str,
                  other: str | None) -> str:
    """Write the report as JSON and its rows as CSV under ``out/reports`` (atomically, so a reader
    never sees half a report); returns the JSON path."""
    import pandas as pd

    from ivos_core.export import atomic_write

    rep_dir = Path(out) / "reports"
    rep_dir.mkdir(parents=True, exist_ok=True)
    stem = f"reprocess-{version}" + (f"-vs-{other}" if other else "")
    atomic_write(rep_dir / f"{stem}.json", lambda t: t.write_text(json.dumps(report, indent=2)))
    atomic_write(rep_dir / f"{stem}.csv", lambda t: pd.DataFrame(rows).to_csv(t, index=False))
    return str(rep_dir / f"{stem}.json")
