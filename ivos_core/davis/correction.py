"""§3.3 Table 3: correcting the worst frame of the GT-initialised OSVOS run, and progressive
refinement (§2.3).

The worst frame (lowest IoU with the ground truth, frame 0 excluded) is corrected with
``correction_clicks`` robot clicks by ``ours`` (the propagated mask as the network's mask input),
``ifcn`` (first a positive click at the centre - distance-transform maximum - of the largest
OSVOS blob, not a hard constraint, then the robot's clicks, which are) and ``grabcut`` (the §3.3
heuristic box: positive clicks + current mask). The frame's IoU before and after each is
recorded; with ``progressive_clicks`` the corrected frame joins the fine-tuning set, OSVOS is
re-fitted and re-propagated, and the sequence's J mean after is recorded.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from ivos_core.davis.config import DavisEvalConfig, EvalModels
from ivos_core.davis.sequence import Clip, _osvos, _robot_loop, _scores
from ivos_core.interactions import Click
from ivos_core.metrics import iou

__all__ = ["blob_centre_click", "correct", "run_table3"]


def blob_centre_click(mask: np.ndarray) -> Click | None:
    """A positive click at the interior-most pixel (distance-transform maximum) of the largest
    connected component of ``mask``; None for an empty mask (iFCN's start, paper §3.3)."""
    m = np.asarray(mask, bool)
    if not m.any():
        return None
    n, lab, stats, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
    k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    blob = np.pad((lab == k).astype(np.uint8), 1)
    dt = cv2.distanceTransform(blob, cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = divmod(int(np.argmax(dt)), dt.shape[1])
    return Click(x=float(x), y=float(y), positive=True)


def _correct_ifcn(
    image: np.ndarray, gt: np.ndarray, start: np.ndarray, n_max: int, models: EvalModels, void: np.ndarray | None,
) -> list[np.ndarray]:
    """iFCN: a free positive click at the centre of the largest OSVOS blob, not a hard constraint;
    the robot's clicks are (clamped after the soft prediction)."""
    from ivos_core.interactive.segmenter import constraint_masks

    seg = models.ifcn
    seg.set_image(image)
    seed_click = blob_centre_click(start)
    seeds = [seed_click] if seed_click is not None else []
    h, w = gt.shape
    radius = int(getattr(seg, "click_radius", 3))

    def predict(cl: list[Click], cur: np.ndarray) -> np.ndarray:
        m = seg.predict(seeds + cl, prev_mask=cur, hard_constraints=False, keep_clicked=False).mask.copy()
        fg, bg = constraint_masks(cl, h, w, click_radius=radius)
        m[fg] = True
        m[bg] = False
        return m

    first = predict([], start) if seeds else np.zeros_like(gt)
    return _robot_loop(predict, gt, first, n_max, void)[0]


def correct(
    method: str, image: np.ndarray, gt: np.ndarray, start: np.ndarray, n_max: int, models: EvalModels,
    config: DavisEvalConfig, void: np.ndarray | None,
) -> list[np.ndarray]:
    """Masks after 1..n_max robot clicks correcting ``start`` (the propagated OSVOS mask)."""
    if method == "grabcut":
        from ivos_core.interactive.methods import GrabCutMethod

        gm = GrabCutMethod(iterations=config.grabcut_iterations)
        gm.set_image(image)
        return _robot_loop(gm.predict, gt, start, n_max, void)[0]
    if method == "ours":
        seg = models.ours
        seg.set_image(image)
        # the propagated mask's parts were never clicked: no clicked-component filter here
        return _robot_loop(
            lambda cl, cur: seg.predict(cl, prev_mask=cur, keep_clicked=False, local=True).mask, gt, start, n_max, void
        )[0]
    return _correct_ifcn(image, gt, start, n_max, models, void)


def _worst_frames(clip: Clip, gt_preds: np.ndarray, k: int = 1) -> list[tuple[int, float]]:
    """The ``k`` evaluated frames (not frame 0) with the lowest IoU (ties: the earlier), worst
    first, with their IoUs."""
    ious = [iou(gt_preds[t], clip.gts[t], ignore=clip.void_at(t)) for t in range(len(clip))]
    order = sorted(range(1, len(clip)), key=lambda t: (ious[t], t))
    return [(t, ious[t]) for t in order[:k]]


def _correct_worst(
    clip: Clip, w: int, before: float, gt_preds: np.ndarray, models: EvalModels, config: DavisEvalConfig,
    row: dict[str, Any], rank: int = 1,
) -> dict[str, list[np.ndarray]]:
    """Every available method's masks after 1..max clicks on frame ``w``; fills ``refine_iou``
    and the correction rows (``clicks = 0``: before)."""
    vw = clip.void_at(w)
    gt_w = clip.gts[w]
    corrected: dict[str, list[np.ndarray]] = {}
    for m in config.correction_methods:
        if m in models.unavailable or getattr(models, m, True) is None:
            for k in config.correction_clicks:
                clip.res.skipped[f"refine:{m}@{k}"] = models.unavailable.get(m, f"{m} model not loaded")
            continue
        masks = correct(m, clip.frames[w], gt_w, gt_preds[w], max(config.correction_clicks), models, config, vw)
        corrected[m] = masks
        rows = clip.res.correction_rows
        rows.append({"sequence": clip.name, "frame": clip.idx[w], "rank": rank, "method": m, "clicks": 0, "iou": before})
        for k, mk in enumerate(masks, start=1):
            rows.append({"sequence": clip.name, "frame": clip.idx[w], "rank": rank, "method": m, "clicks": k,
                         "iou": iou(mk, gt_w, ignore=vw)})
        for k in config.correction_clicks:
            row[f"refine_iou[{m}@{k}]"] = iou(masks[k - 1], gt_w, ignore=vw)
    return corrected


def _progressive(
    clip: Clip, w: int, corrected: dict[str, list[np.ndarray]], gt_vs: Any, models: EvalModels,
    config: DavisEvalConfig, row: dict[str, Any],
) -> None:
    """The corrected frame joins the GT run's fine-tuning set: re-fit, re-propagate, score."""
    for m, masks in corrected.items():
        for k in config.progressive_clicks:
            preds, _ = _osvos(clip.name, clip.frames, {w: masks[k - 1]}, models, config, vs=gt_vs)
            gt_vs.remove_annotation(w)
            stats, j, f = _scores(preds, clip.gts, clip.void)
            row[f"progressive_J_mean[{m}@{k}]"] = stats["J_mean"]
            clip.add_frame_rows(f"progressive:{m}@{k}", j, f)


def run_table3(
    clip: Clip, gt_vs: Any, gt_preds: np.ndarray, models: EvalModels, config: DavisEvalConfig, row: dict[str, Any],
) -> None:
    """Table 3 (and progressive refinement) on the worst frame of the GT-initialised run."""
    worst = _worst_frames(clip, gt_preds, config.correction_frames)
    w, before = worst[0]
    row["worst_frame"], row["worst_iou"] = clip.idx[w], before
    corrected = _correct_worst(clip, w, before, gt_preds, models, config, row)
    for rank, (t, iou_t) in enumerate(worst[1:], start=2):  # more frames: rows only, not Table 3
        _correct_worst(clip, t, iou_t, gt_preds, models, config, {}, rank=rank)
    _progressive(clip, w, corrected, gt_vs, models, config, row)
