"""Prefect flow ``eval-davis``: the paper's DAVIS evaluations (Fig. 5, Table 3, J&F, Fig. 10 stats).

Thin: one task per sequence (:func:`ivos_core.davis.evaluate_named_sequence`), each
persisting its result as ``<out>/sequences/<name>.json``; a retried or re-run flow with the same
configuration skips the sequences already there (failed ones are retried). A final task writes
the run's files (:func:`ivos_core.davis.write_davis_outputs`). Tasks exchange paths and plain
dicts, never tensors.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact

from flows.progress import FlowProgress, artifact_key
from ivos_core.davis import (
    DavisEvalConfig,
    DavisEvalResult,
    EvalModels,
    SequenceResult,
    evaluate_named_sequence,
    load_models,
    select_sequences,
    summary_rows,
    write_davis_outputs,
)


@lru_cache(maxsize=2)
def _models(config_json: str) -> EvalModels:
    """Models are loaded once per process and configuration (tasks run in the flow's process)."""
    return load_models(DavisEvalConfig.from_dict(json.loads(config_json)))


def _sequence_file(out: str, name: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return Path(out) / "sequences" / f"{safe}.json"


@task(name="eval-davis-sequence", retries=1, task_run_name="eval-davis-{sequence}")
def evaluate_sequence_task(root: str, sequence: str, config: dict[str, Any], out: str) -> str:
    """Evaluate one sequence (or reuse its saved result); returns the result file's path."""
    cfg = DavisEvalConfig.from_dict(config)
    path = _sequence_file(out, sequence)
    logger = get_run_logger()
    if path.is_file():
        try:
            old = SequenceResult.load(path)
            if old.status == "ok" and old.fingerprint == cfg.fingerprint():
                logger.info("%s: result already in %s, skipped", sequence, path)
                return str(path)
        except (ValueError, OSError, TypeError):
            pass
    models = _models(json.dumps(cfg.to_dict(), sort_keys=True))
    res = evaluate_named_sequence(root, sequence, cfg, models, cache=path, log=logger.info)
    if res.status != "ok":
        logger.warning("%s failed: %s", sequence, res.reason)
    return str(path)


@task(name="eval-davis-write")
def write_outputs_task(root: str, config: dict[str, Any], paths: list[str], out: str, seconds: float) -> str:
    """Combine the per-sequence files into summary.json, the Parquet tables and the figures."""
    cfg = DavisEvalConfig.from_dict(config)
    results = [SequenceResult.load(p) for p in paths]
    unavailable: dict[str, str] = {}
    for r in results:
        for setting, reason in r.skipped.items():
            unavailable.setdefault(setting.split(":")[-1].split("@")[0], reason)
    result = DavisEvalResult(cfg, results, unavailable, root, seconds=seconds)
    return str(write_davis_outputs(result, out)["summary"])


@flow(name="eval-davis", log_prints=True)
def eval_davis_flow(root: str, out: str = "outputs/davis", config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Evaluate OSVOS on a DAVIS split (``config``: :class:`DavisEvalConfig` fields as a dict).

    Writes ``summary.json``, ``per_sequence.parquet``, ``per_frame.parquet``,
    ``corrections.parquet`` and two figures into ``out``; returns the summary.
    """
    import time

    t0 = time.perf_counter()
    cfg = DavisEvalConfig.from_dict(config or {})
    cfg_dict = cfg.to_dict()
    names = select_sequences(root, cfg)
    progress = FlowProgress(artifact_key("eval-davis", cfg.split), f"eval-davis on {len(names)} sequences",
                            terminal=False)
    paths = []
    for i, name in enumerate(names):
        paths.append(evaluate_sequence_task(root, name, cfg_dict, out))
        progress(i + 1, len(names), name)
    summary_path = write_outputs_task(root, cfg_dict, paths, out, time.perf_counter() - t0)
    summary = json.loads(Path(summary_path).read_text(encoding="utf-8"))
    rows = [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in summary_rows(summary)]
    create_table_artifact(
        rows,
        key=artifact_key("davis", cfg.split, "summary"),
        description=(f"OSVOS on DAVIS {cfg.year} {cfg.split}: {summary['n_ok']} sequences, "
                     f"{summary['n_failed']} failed (mean IoU; paper values for reference)"),
    )
    return summary
