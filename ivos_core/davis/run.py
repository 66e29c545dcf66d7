"""Running the DAVIS protocols: one sequence (:func:`evaluate_sequence`), one named sequence with
a per-sequence cache (:func:`evaluate_named_sequence`), a whole split (:func:`evaluate_davis`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2

from ivos_core.davis.config import DavisEvalConfig, EvalModels, load_models
from ivos_core.davis.correction import run_table3
from ivos_core.davis.first_frame import run_fig5
from ivos_core.davis.report import DavisEvalResult
from ivos_core.davis.sequence import Clip, SequenceResult, _clean, _consecutive_gt_iou, sequence_columns
from ivos_core.protocols import ProgressFn

__all__ = ["evaluate_davis", "evaluate_named_sequence", "evaluate_sequence", "select_sequences"]


def _run_protocols(
    seq: Any, config: DavisEvalConfig, models: EvalModels, res: SequenceResult, row: dict[str, Any],
    say: Callable[[str], None],
) -> None:
    """(a) Fig. 5, (b) Table 3 + progressive refinement, (c) J&F, (d) Fig. 10 statistics on one
    sequence, filling ``row`` and ``res``; raises for a broken sequence."""
    import torch

    torch.manual_seed(config.seed)
    cv2.setRNGSeed(config.seed)
    clip = Clip.load(seq, config, res)
    row.update(n_frames=len(clip), n_frames_total=len(seq), height=int(clip.gts.shape[1]),
               width=int(clip.gts.shape[2]))
    row["consecutive_iou_mean"] = _consecutive_gt_iou(seq, config.year)
    gt_vs, gt_preds = run_fig5(clip, config, models, row, say)
    if gt_preds is not None and config.correction_methods:
        run_table3(clip, gt_vs, gt_preds, models, config, row)
    if gt_vs is not None:
        gt_vs.close()


def evaluate_sequence(
    seq: Any,
    config: DavisEvalConfig,
    models: EvalModels | None = None,
    *,
    log: Callable[[str], None] | None = None,
) -> SequenceResult:
    """Run (a)-(d) on one :class:`~ivos_core.data.DavisSequence`; never raises for a broken
    sequence: the result has ``status="failed"`` and the reason."""
    t0 = time.perf_counter()
    models = models if models is not None else load_models(config)
    name = str(getattr(seq, "name", "sequence"))
    res = SequenceResult(sequence=name, status="ok", fingerprint=config.fingerprint())
    row: dict[str, Any] = {c: None for c in sequence_columns(config)}
    row.update(sequence=name, status="ok", frame_stride=config.frame_stride)
    say = log or (lambda msg: None)
    try:
        _run_protocols(seq, config, models, res, row, say)
    except Exception as exc:  # one broken sequence must not end a long evaluation
        res.status, res.reason = "failed", f"{type(exc).__name__}: {exc}"
        row.update(status="failed", reason=res.reason)
        res.frame_rows, res.correction_rows = [], []
        say(f"{name}: failed: {res.reason}")
    res.seconds = time.perf_counter() - t0
    row["seconds"] = res.seconds
    res.row = _clean(row)
    res.frame_rows = _clean(res.frame_rows)
    res.correction_rows = _clean(res.correction_rows)
    return res


def _open_dataset(root: str | Path, config: DavisEvalConfig):
    from ivos_core.data import DavisDataset

    return DavisDataset(root, year=config.year, split=config.split, resolution=config.resolution)


def select_sequences(root: str | Path, config: DavisEvalConfig) -> list[str]:
    """The sequence names to evaluate: the split's, or ``config.sequences`` in the given order
    (names not in the split are kept: they are reported as failed)."""
    ds = _open_dataset(root, config)
    return list(config.sequences) if config.sequences else ds.sequences()


def _cached(cache: str | Path | None, config: DavisEvalConfig) -> SequenceResult | None:
    """A successful result saved at ``cache`` by the same config, else None."""
    if cache is None or not Path(cache).is_file():
        return None
    try:
        old = SequenceResult.load(cache)
    except (ValueError, OSError, TypeError):
        return None
    return old if old.fingerprint == config.fingerprint() and old.status == "ok" else None


def evaluate_named_sequence(
    root: str | Path, name: str, config: DavisEvalConfig, models: EvalModels | None = None, *,
    cache: str | Path | None = None, log: Callable[[str], None] | None = None,
) -> SequenceResult:
    """Evaluate sequence ``name`` of the DAVIS root; with ``cache`` (a JSON path) reuse a result
    saved there by the same config (:meth:`DavisEvalConfig.fingerprint`), else compute and save."""
    old = _cached(cache, config)
    if old is not None:
        return old
    try:
        seq = _open_dataset(root, config).sequence(name)
    except Exception as exc:
        res = SequenceResult(name, "failed", f"{type(exc).__name__}: {exc}", fingerprint=config.fingerprint())
        res.row = _clean({**{c: None for c in sequence_columns(config)}, "sequence": name, "status": "failed",
                          "reason": res.reason})
    else:
        res = evaluate_sequence(seq, config, models, log=log)
    if cache is not None:
        res.save(cache)
    return res


def evaluate_davis(
    root: str | Path,
    config: DavisEvalConfig | None = None,
    progress: ProgressFn | None = None,
    *,
    cache_dir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> DavisEvalResult:
    """Evaluate every selected sequence of the DAVIS root (see :mod:`ivos_core.davis`).

    ``progress(done, total, sequence)`` after each sequence. ``cache_dir``: keep each
    sequence's result there as ``<sequence>.json`` and reuse results of the same config.
    """
    t0 = time.perf_counter()
    config = config or DavisEvalConfig()
    names = select_sequences(root, config)
    models = load_models(config)
    results = []
    for i, name in enumerate(names):
        cache = None if cache_dir is None else Path(cache_dir) / f"{name}.json"
        results.append(evaluate_named_sequence(root, name, config, models, cache=cache, log=log))
        if progress is not None:
            progress(i + 1, len(names), name)
    return DavisEvalResult(config, results, dict(models.unavailable), str(root), seconds=time.perf_counter() - t0)
