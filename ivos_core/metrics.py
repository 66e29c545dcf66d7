"""Segmentation metrics: IoU with an ignore band, DAVIS J and F, NoC@t, mIoU@k, sequence stats.

Semantics follow the official DAVIS evaluation (``davis2017-evaluation``) so numbers are
comparable with published ones:

* **J (IoU)**: void/ignore pixels are removed from both masks; an empty union gives J = 1
  (predicting nothing where there is nothing is perfect).
* **F (boundary)**: boundaries are one-pixel ``seg2bmap`` maps; a boundary pixel of one mask
  matches when a boundary pixel of the other lies within a disk of radius
  ``ceil(bound_th * image diagonal)`` (``bound_th < 1``) or ``bound_th`` pixels (``>= 1``);
  F is the harmonic mean of precision and recall. Both boundaries empty -> 1; one empty -> 0.
* **NoC@t**: the number of clicks a method needs to reach IoU ``t``; a sample that never gets
  there counts ``max_clicks`` and is reported as failed.
* **Sequence statistics**: mean, recall (fraction of frames with a value > 0.5) and decay
  (first quarter minus last quarter), with the first and last frame excluded in
  :func:`davis_jf` as the official evaluation does.

All masks are 2-D arrays ``(H, W)``; anything non-zero counts as foreground.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np

__all__ = [
    "iou",
    "boundary_f",
    "seg2bmap",
    "clicks_to_reach",
    "NoCResult",
    "noc",
    "miou_curve",
    "SeqStats",
    "sequence_statistics",
    "davis_jf",
]


def _as_bool_pair(
    pred: np.ndarray, gt: np.ndarray, ignore: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate shapes and return boolean ``(pred, gt, ignore)``; raise ValueError on mismatch."""
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if pred.ndim != 2 or gt.ndim != 2:
        raise ValueError(
            f"masks must be 2-D (H, W); got pred {pred.shape} and gt {gt.shape} "
            "(squeeze channel axes or pass one object mask at a time)"
        )
    if pred.shape != gt.shape:
        raise ValueError(
            f"pred shape {pred.shape} does not match gt shape {gt.shape}; "
            "resize the prediction to the ground truth (nearest neighbour) first"
        )
    ign = None
    if ignore is not None:
        ign = np.asarray(ignore)
        if ign.shape != gt.shape:
            raise ValueError(f"ignore shape {ign.shape} does not match gt shape {gt.shape}")
        ign = ign.astype(bool)
    return pred.astype(bool), gt.astype(bool), ign


def iou(pred: np.ndarray, gt: np.ndarray, ignore: np.ndarray | None = None) -> float:
    """Intersection over union (DAVIS J) of two ``(H, W)`` masks.

    ``ignore`` (``(H, W)``, bool; e.g. the GrabCut 128 band) pixels are removed from both masks.
    Returns 1.0 when the union is empty.
    """
    p, g, ign = _as_bool_pair(pred, gt, ignore)
    if ign is not None:
        keep = ~ign
        p = p & keep
        g = g & keep
    union = np.count_nonzero(p | g)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(p & g) / union)


def seg2bmap(seg: np.ndarray) -> np.ndarray:
    """One-pixel-wide boundary map ``(H, W)`` bool of a binary mask, DAVIS ``seg2bmap`` style.

    A pixel is boundary when it differs from its right, lower or lower-right neighbour, so
    the boundary sits on the inner/outer edge consistently and is never doubled.
    """
    s = np.asarray(seg).astype(bool)
    if s.ndim != 2:
        raise ValueError(f"seg2bmap expects a 2-D mask, got shape {s.shape}")
    e = np.zeros_like(s)
    so = np.zeros_like(s)
    se = np.zeros_like(s)
    e[:, :-1] = s[:, 1:]
    so[:-1, :] = s[1:, :]
    se[:-1, :-1] = s[1:, 1:]
    b = (s ^ e) | (s ^ so) | (s ^ se)
    b[-1, :] = s[-1, :] ^ e[-1, :]
    b[:, -1] = s[:, -1] ^ so[:, -1]
    b[-1, -1] = False
    return b


def _disk(radius: int) -> np.ndarray:
    """Binary disk structuring element of ``radius`` pixels, ``(2r+1, 2r+1)`` uint8."""
    r = int(radius)
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return (xx * xx + yy * yy <= r * r).astype(np.uint8)


def boundary_f(
    pred: np.ndarray,
    gt: np.ndarray,
    bound_th: float = 0.008,
    ignore: np.ndarray | None = None,
) -> float:
    """DAVIS boundary F-measure of two ``(H, W)`` masks.

    ``bound_th`` < 1 is a fraction of the image diagonal (0.008 is the DAVIS default, ~4 px
    at 480p), >= 1 is a radius in pixels. ``ignore`` pixels are removed from both masks before
    their boundaries are taken (as the official code does with void pixels).
    """
    p, g, ign = _as_bool_pair(pred, gt, ignore)
    if not (bound_th > 0 and math.isfinite(bound_th)):
        raise ValueError(f"bound_th must be a positive finite number, got {bound_th}")
    if ign is not None:
        p = p & ~ign
        g = g & ~ign
    radius = int(bound_th) if bound_th >= 1 else int(math.ceil(bound_th * math.hypot(*g.shape)))
    pb = seg2bmap(p)
    gb = seg2bmap(g)
    n_p = int(np.count_nonzero(pb))
    n_g = int(np.count_nonzero(gb))
    if n_p == 0 and n_g == 0:
        return 1.0
    if n_p == 0 or n_g == 0:
        return 0.0
    k = _disk(radius)
    p_dil = cv2.dilate(pb.astype(np.uint8), k).astype(bool)
    g_dil = cv2.dilate(gb.astype(np.uint8), k).astype(bool)
    precision = np.count_nonzero(pb & g_dil) / n_p
    recall = np.count_nonzero(gb & p_dil) / n_g
    if precision + recall == 0:
        return 0.0
    return float(2 * precision * recall / (precision + recall))


def _check_max_clicks(max_clicks: int) -> None:
    if int(max_clicks) != max_clicks or max_clicks < 1:
        raise ValueError(f"max_clicks must be a positive integer, got {max_clicks!r}")


def _padded(ious: Sequence[float], max_clicks: int) -> np.ndarray:
    """``(max_clicks,)`` float64 IoUs after 1..max_clicks clicks, padded with the last value.

    Why pad: an evaluation loop may stop a sample early (the robot found no error left to click,
    or the target was reached); the mask, and so its IoU, stays what it was.
    """
    arr = np.asarray(list(ious), dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"need a non-empty 1-D sequence of IoUs (one per click), got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"IoUs must be finite, got {arr.tolist()}")
    arr = arr[:max_clicks]
    if arr.size < max_clicks:
        arr = np.concatenate([arr, np.full(max_clicks - arr.size, arr[-1])])
    return arr


def clicks_to_reach(ious: Sequence[float], threshold: float, max_clicks: int = 20) -> int:
    """Clicks needed to reach ``threshold``: the first ``k + 1`` with ``ious[k] >= threshold``.

    ``ious[k]`` is the IoU after ``k + 1`` clicks. Returns ``max_clicks`` when the threshold is
    never reached within ``max_clicks`` clicks (the NoC convention).
    """
    _check_max_clicks(max_clicks)
    arr = _padded(ious, max_clicks)
    hit = np.flatnonzero(arr >= threshold)
    return int(hit[0] + 1) if hit.size else int(max_clicks)


@dataclass(frozen=True)
class NoCResult:
    """NoC@t over a dataset: ``mean`` clicks, ``n_failed`` samples that never reached t,
    and ``per_sample`` clicks (ints in ``[1, max_clicks]``)."""

    mean: float
    n_failed: int
    per_sample: list[int] = field(default_factory=list)


def noc(
    per_sample_ious: Sequence[Sequence[float]], threshold: float, max_clicks: int = 20
) -> NoCResult:
    """Mean number of clicks to reach IoU ``threshold`` (e.g. 0.85, 0.90) over samples.

    Each sample's IoU list is padded with its last value up to ``max_clicks`` (a method that
    stopped early because the robot had nothing left to fix keeps its IoU). A sample fails when
    its padded IoUs never reach ``threshold``; it counts as ``max_clicks``.
    """
    _check_max_clicks(max_clicks)
    if len(per_sample_ious) == 0:
        raise ValueError("noc needs at least one sample's IoU list")
    per: list[int] = []
    failed = 0
    for ious in per_sample_ious:
        arr = _padded(ious, max_clicks)
        hit = np.flatnonzero(arr >= threshold)
        if hit.size:
            per.append(int(hit[0] + 1))
        else:
            per.append(int(max_clicks))
            failed += 1
    return NoCResult(mean=float(np.mean(per)), n_failed=failed, per_sample=per)


def miou_curve(per_sample_ious: Sequence[Sequence[float]], max_clicks: int = 20) -> np.ndarray:
    """Mean IoU after ``k`` clicks, ``k = 1..max_clicks``: ``(max_clicks,)`` float64.

    Element ``k - 1`` is the mean over samples of the IoU after ``k`` clicks; samples with fewer
    entries are padded with their last value (see :func:`noc`).
    """
    _check_max_clicks(max_clicks)
    if len(per_sample_ious) == 0:
        raise ValueError("miou_curve needs at least one sample's IoU list")
    return np.stack([_padded(s, max_clicks) for s in per_sample_ious]).mean(axis=0)


@dataclass(frozen=True)
class SeqStats:
    """Per-sequence summary of a per-frame metric (DAVIS M, O, D)."""

    mean: float
    recall: float
    decay: float


def sequence_statistics(per_frame: Sequence[float]) -> SeqStats:
    """Mean, recall (fraction of frames > 0.5) and decay of a per-frame metric.

    Decay splits the frames into 4 contiguous bins with ``np.array_split`` and returns
    ``mean(first bin) - mean(last bin)`` (positive = quality drops over time). The official DAVIS
    code uses slightly overlapping bins (``linspace``-rounded edges); the difference is at most a
    frame per bin and vanishes for long sequences. NaN frames are skipped; a bin that is empty or
    all NaN makes decay NaN (fewer than 4 frames).
    """
    x = np.asarray(list(per_frame), dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"need a non-empty 1-D sequence of per-frame values, got shape {x.shape}")
    valid = ~np.isnan(x)
    if not valid.any():
        return SeqStats(float("nan"), float("nan"), float("nan"))
    mean = float(np.mean(x[valid]))
    recall = float(np.mean(x[valid] > 0.5))
    bins = np.array_split(x, 4)

    def _m(b: np.ndarray) -> float:
        b = b[~np.isnan(b)]
        return float(b.mean()) if b.size else float("nan")

    decay = _m(bins[0]) - _m(bins[-1])
    return SeqStats(mean=mean, recall=recall, decay=decay)


def davis_jf(
    pred_masks: Sequence[np.ndarray] | np.ndarray,
    gt_masks: Sequence[np.ndarray] | np.ndarray,
    exclude_first_last: bool = True,
    bound_th: float = 0.008,
    void_masks: Sequence[np.ndarray] | np.ndarray | None = None,
) -> dict:
    """J and F of one sequence (one object), DAVIS style.

    ``pred_masks`` and ``gt_masks`` are ``T`` masks of shape ``(H, W)`` (or arrays
    ``(T, H, W)``). The official evaluation drops the first frame (it is given) and the last
    one; ``exclude_first_last=False`` keeps all (needed for sequences of < 3 frames).

    Returns ``{"J": SeqStats, "F": SeqStats, "JF_mean": float, "J_per_frame": list[float],
    "F_per_frame": list[float], "frames": list[int]}`` where ``frames`` are the evaluated
    frame indices.
    """
    n_p, n_g = len(pred_masks), len(gt_masks)
    if n_p != n_g:
        raise ValueError(
            f"got {n_p} predicted masks but {n_g} ground-truth masks; pass one per frame"
        )
    if void_masks is not None and len(void_masks) != n_g:
        raise ValueError(f"got {len(void_masks)} void masks for {n_g} frames")
    idx = list(range(n_g))
    if exclude_first_last:
        if n_g < 3:
            raise ValueError(
                f"a sequence of {n_g} frame(s) has nothing left after dropping the first and last; "
                "pass exclude_first_last=False"
            )
        idx = idx[1:-1]
    js, fs = [], []
    for t in idx:
        v = None if void_masks is None else void_masks[t]
        js.append(iou(pred_masks[t], gt_masks[t], ignore=v))
        fs.append(boundary_f(pred_masks[t], gt_masks[t], bound_th=bound_th, ignore=v))
    j, f = sequence_statistics(js), sequence_statistics(fs)
    return {
        "J": j,
        "F": f,
        "JF_mean": (j.mean + f.mean) / 2,
        "J_per_frame": js,
        "F_per_frame": fs,
        "frames": idx,
    }
