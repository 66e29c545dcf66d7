"""§3.2 Fig. 5: OSVOS initialised from one first-frame mask.

The mask comes from the ground truth (``gt``), from GrabCut with the heuristic box around the
ground truth plus ``N`` robot clicks (``grabcut@N``), or from our interactive model after ``N``
robot clicks (``ours@N``). Each setting fine-tunes a copy of the parent on that one mask and
propagates; its score is the DAVIS J mean of the sequence. The GT-initialised run is the one
Table 3 corrects (:mod:`ivos_core.davis.correction`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ivos_core.davis.config import DavisEvalConfig, EvalModels
from ivos_core.davis.sequence import STAT_KEYS, Clip, _osvos, _robot_loop, _scores
from ivos_core.metrics import iou

__all__ = ["first_frame_masks", "run_fig5"]


def first_frame_masks(
    method: str, image: np.ndarray, gt: np.ndarray, clicks: Sequence[int], models: EvalModels,
    config: DavisEvalConfig, void: np.ndarray | None,
) -> dict[int, np.ndarray]:
    """First-frame masks after each of ``clicks`` robot clicks: GrabCut (box around the GT +
    clicks as seeds) or our model (all clicks + previous mask), starting from an empty mask."""
    if method == "grabcut":
        from ivos_core.baselines.grabcut import GrabCutSegmenter, heuristic_box

        gc = GrabCutSegmenter(iterations=config.grabcut_iterations)
        box = heuristic_box([], gt, margin=config.grabcut_box_margin)
        predict = lambda cl, cur: gc.predict(image, cl, box=box)  # noqa: E731
    else:
        seg = models.ours
        seg.set_image(image)
        predict = lambda cl, cur: seg.predict(cl, prev_mask=cur).mask  # noqa: E731
    masks, _ = _robot_loop(predict, gt, np.zeros_like(gt), max(clicks), void)
    return {k: masks[k - 1] for k in clicks}


def _init_masks(clip: Clip, config: DavisEvalConfig, models: EvalModels) -> dict[str, np.ndarray]:
    """The first-frame mask of every available setting; unavailable ones go to ``skipped``."""
    init: dict[str, np.ndarray] = {}
    for m in config.init_methods:
        if m == "gt":
            init["gt"] = clip.gts[0]
            continue
        if m in models.unavailable or (m == "ours" and models.ours is None):
            for k in config.init_clicks:
                clip.res.skipped[f"{m}@{k}"] = models.unavailable.get(m, f"{m} model not loaded")
            continue
        masks = first_frame_masks(m, clip.frames[0], clip.gts[0], config.init_clicks, models, config, clip.void_at(0))
        for k, mask in masks.items():
            init[f"{m}@{k}"] = mask
    return init


def run_fig5(
    clip: Clip, config: DavisEvalConfig, models: EvalModels, row: dict[str, Any], say: Callable[[str], None],
) -> tuple[Any, np.ndarray | None]:
    """OSVOS from each setting's first-frame mask; fills ``row`` (``init_iou[s]``, the J/F stats
    per setting, the GT run's stats unsuffixed) and the per-frame rows. Returns the GT run's
    VideoSegmenter and masks (None, None without a ``gt`` setting)."""
    init = _init_masks(clip, config, models)
    gt_vs = None
    gt_preds = None
    v0 = clip.void_at(0)
    for s in config.init_settings():
        if s not in init:
            continue
        ts = time.perf_counter()
        preds, vs = _osvos(clip.name, clip.frames, {0: init[s]}, models, config)
        stats, j, f = _scores(preds, clip.gts, clip.void)
        row[f"init_iou[{s}]"] = iou(init[s], clip.gts[0], ignore=v0)
        for k in STAT_KEYS:
            row[f"{k}[{s}]"] = stats[k]
        if s == "gt":
            row.update(stats)
            gt_vs, gt_preds = vs, preds
        clip.add_frame_rows(f"osvos:{s}", j, f)
        say(f"{clip.name}: OSVOS from {s}: J {stats['J_mean']:.3f} ({time.perf_counter() - ts:.1f} s)")
    return gt_vs, gt_preds
