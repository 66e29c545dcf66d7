"""How hard a video will be for OSVOS, estimated before segmenting it (paper §4.2, Fig. 10).

The paper finds that the mean IoU between consecutive ground-truth masks correlates with OSVOS
performance (fast-moving objects are harder) and suggests predicting a sequence's difficulty
"due to motion or other factors (e.g. using optical flow)" to steer users towards easier
videos. Ground-truth masks do not exist before segmentation, so :func:`flow_difficulty` uses
only the frames:

* frames are converted to grey and downscaled so the longer side is ``<= max_side`` (speed;
  the score is resolution-independent because flow is measured relative to the diagonal);
* OpenCV Farnebäck dense optical flow between consecutive frames ``t -> t+1``;
* ``mean_flow_magnitude``: per pair, the mean flow length divided by the image diagonal, then
  averaged over pairs - global motion (camera and object), "fraction of the diagonal per frame";
* ``flow_magnitude_p95``: per pair, the 95th percentile of the same normalised lengths, averaged
  - the fastest-moving tenth-or-so of the image, which for a static camera is the object;
* ``mean_warp_error``: per pair, frame ``t+1`` warped back onto frame ``t`` along the flow and
  compared with it (mean absolute grey difference in [0, 1], over pixels that stay inside the
  frame) - what motion cannot explain: occlusion, deformation, blur, lighting, appearance change;
* **score** ``= 100 * flow_magnitude_p95 + 100 * mean_warp_error`` - both terms in percent (of
  the diagonal per frame; of the grey range), so a static video scores 0 and a typical DAVIS
  sequence a few points to a few tens. The two terms are weighted equally; the components are
  returned too, so a caller can refit the weights against measured OSVOS J (:func:`correlate`).

Once the user has annotated the first frame (still before OSVOS runs), ``first_mask`` adds
``flow_mask_iou``: the first mask carried along the flow, and the mean IoU of consecutive carried
masks - the Fig. 10 x-axis predicted without ground truth. It knows the object's size and its own
motion, which the global terms cannot (a camera panning with the object moves the background,
not the object's mask).

:func:`consecutive_mask_iou` is the paper's Fig. 10 x-axis from ground truth;
:func:`difficulty_table` computes both per DAVIS sequence and :func:`correlate` gives Pearson r
of each against a J column.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

import cv2
import numpy as np

from ivos_core.metrics import iou

__all__ = [
    "DifficultyScore",
    "FARNEBACK_PARAMS",
    "to_small_grey",
    "farneback_flow",
    "flow_difficulty",
    "consecutive_mask_iou",
    "difficulty_table",
    "correlate",
    "score_vs_consecutive_iou",
]

FARNEBACK_PARAMS: dict[str, Any] = dict(
    pyr_scale=0.5, levels=4, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0
)
"""OpenCV's documented example settings plus one pyramid level (large DAVIS motions)."""

FLOW_WEIGHT = 100.0
WARP_WEIGHT = 100.0


@dataclass(frozen=True)
class DifficultyScore:
    """A video's motion difficulty (see the module docstring for the definitions).

    ``score``: higher = harder (0 for a static video). ``mean_flow_magnitude`` and
    ``flow_magnitude_p95``: flow length as a fraction of the image diagonal per frame.
    ``mean_warp_error``: mean absolute grey difference after warping, in [0, 1].
    ``n_frames``: frames read (``n_frames - 1`` pairs). ``flow_mask_iou``: only when a first-frame
    mask was given - Fig. 10's x-axis predicted from flow (see :func:`flow_difficulty`).
    """

    score: float
    mean_flow_magnitude: float
    flow_magnitude_p95: float
    mean_warp_error: float
    n_frames: int
    flow_mask_iou: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def to_small_grey(frame: np.ndarray, max_side: int = 320) -> np.ndarray:
    """(h, w) uint8 grey copy of an (H, W, 3) RGB uint8 (or (H, W) grey) frame, longer side
    ``<= max_side`` (area interpolation; never upscales)."""
    f = np.asarray(frame)
    if f.ndim == 3 and f.shape[2] == 3:
        g = cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)
    elif f.ndim == 2:
        g = f
    else:
        raise ValueError(f"frame must be (H, W, 3) RGB or (H, W) grey, got shape {f.shape}")
    if g.dtype != np.uint8:
        raise ValueError(f"frame must be uint8, got {g.dtype}")
    if max_side < 8:
        raise ValueError(f"max_side must be >= 8, got {max_side}")
    h, w = g.shape
    s = max_side / max(h, w)
    if s < 1.0:
        g = cv2.resize(g, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(g)


def farneback_flow(prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
    """(h, w, 2) float32 flow (dx, dy) with ``prev[y, x] ~ nxt[y + dy, x + dx]`` (grey uint8 in)."""
    return cv2.calcOpticalFlowFarneback(prev, nxt, None, **FARNEBACK_PARAMS)


def _pair_stats(prev: np.ndarray, nxt: np.ndarray) -> tuple[float, float, float, np.ndarray]:
    """(mean, p95) normalised flow length, mean warp error and the flow of one frame pair."""
    h, w = prev.shape
    diag = math.hypot(h, w)
    flow = farneback_flow(prev, nxt)
    mag = np.hypot(flow[..., 0], flow[..., 1]) / diag
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx, my = gx + flow[..., 0], gy + flow[..., 1]
    warped = cv2.remap(nxt, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
    diff = np.abs(warped.astype(np.float32) - prev.astype(np.float32)) / 255.0
    warp_err = float(diff[inside].mean()) if inside.any() else 1.0
    return float(mag.mean()), float(np.percentile(mag, 95)), warp_err, flow


def flow_difficulty(
    frames: Iterable[np.ndarray], *, max_side: int = 320, first_mask: np.ndarray | None = None
) -> DifficultyScore:
    """Motion difficulty of a video from its frames alone (no masks; see the module docstring).

    ``frames``: an iterable of (H, W, 3) RGB uint8 frames, read once and in order (a generator
    is fine; only two downscaled grey frames are held at a time). Fewer than two frames score 0.

    ``first_mask`` (optional, (H, W) bool: the user's first-frame annotation, which exists before
    OSVOS runs) adds ``flow_mask_iou``: the mask is carried frame to frame along the same flow
    (``mask_{t+1}(x) = mask_t(x - flow_t(x))``, thresholded at 0.5) and the mean IoU of
    consecutive carried masks is returned - a ground-truth-free estimate of Fig. 10's
    consecutive-mask IoU that, unlike the global terms, knows the object's size and its own
    motion. If the carried mask vanishes (object left the frame or the flow lost it) the pairs
    after that are not counted.
    """
    means: list[float] = []
    p95s: list[float] = []
    warps: list[float] = []
    mask_ious: list[float] = []
    prev = None
    cur_mask: np.ndarray | None = None
    n = 0
    for f in frames:
        g = to_small_grey(f, max_side)
        n += 1
        if prev is None and first_mask is not None:
            fm = np.asarray(first_mask).astype(np.float32)
            if fm.shape != np.asarray(f).shape[:2]:
                raise ValueError(f"first_mask is {fm.shape}, the first frame {np.asarray(f).shape[:2]}")
            cur_mask = cv2.resize(fm, (g.shape[1], g.shape[0]), interpolation=cv2.INTER_AREA) >= 0.5
        if prev is not None:
            if g.shape != prev.shape:
                raise ValueError(f"frame {n - 1} has size {g.shape} after downscaling, frame {n - 2} {prev.shape}")
            m, p, e, flow = _pair_stats(prev, g)
            means.append(m)
            p95s.append(p)
            warps.append(e)
            if cur_mask is not None and cur_mask.any():
                nxt = _carry_mask(cur_mask, flow)
                if nxt.any():
                    mask_ious.append(iou(nxt, cur_mask))
                cur_mask = nxt
        prev = g
    fmi = round(float(np.mean(mask_ious)), 6) if mask_ious else (1.0 if first_mask is not None else None)
    if not means:
        return DifficultyScore(0.0, 0.0, 0.0, 0.0, n, fmi)
    mean_flow, p95, warp = float(np.mean(means)), float(np.mean(p95s)), float(np.mean(warps))
    score = FLOW_WEIGHT * p95 + WARP_WEIGHT * warp
    return DifficultyScore(
        score=round(score, 6),
        mean_flow_magnitude=round(mean_flow, 8),
        flow_magnitude_p95=round(p95, 8),
        mean_warp_error=round(warp, 8),
        n_frames=n,
        flow_mask_iou=fmi,
    )


def _carry_mask(mask: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """(h, w) bool mask of frame t moved to frame t+1 along forward flow ``t -> t+1``.

    Uses the usual smooth-flow approximation of the inverse warp: ``out(x) = mask(x - flow(x))``.
    """
    h, w = mask.shape
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    moved = cv2.remap(mask.astype(np.float32), gx - flow[..., 0], gy - flow[..., 1], cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return moved >= 0.5


def consecutive_mask_iou(masks: Iterable[np.ndarray]) -> float:
    """Mean IoU between consecutive (H, W) masks ``t`` and ``t+1`` (the paper's Fig. 10 x-axis).

    1.0 means the object never changes; lower means faster change. Two empty masks count as
    IoU 1 (DAVIS convention). Raises ValueError with fewer than two masks.
    """
    vals: list[float] = []
    prev = None
    for m in masks:
        cur = np.asarray(m).astype(bool)
        if prev is not None:
            vals.append(iou(cur, prev))
        prev = cur
    if not vals:
        raise ValueError("consecutive_mask_iou needs at least two masks")
    return float(np.mean(vals))


def difficulty_table(
    davis_root: str | Path,
    split: str | None = "val",
    *,
    year: int = 2016,
    max_side: int = 320,
    sequences: Iterable[str] | None = None,
) -> "Any":
    """Per-sequence difficulty of a DAVIS split as a pandas DataFrame.

    Columns: ``sequence``, ``split``, ``n_frames``, ``height``, ``width``, the
    :class:`DifficultyScore` fields (``score``, ``mean_flow_magnitude``, ``flow_magnitude_p95``,
    ``mean_warp_error``, and ``flow_mask_iou`` from the first frame's annotation standing in for
    the user's), ``consecutive_iou`` (ground truth, Fig. 10) and ``seconds`` (time to compute the
    flow terms). Frames without an annotation are left out of ``consecutive_iou``.
    """
    import pandas as pd

    from ivos_core.data.davis import DavisDataset

    ds = DavisDataset(davis_root, year=year, split=split)  # type: ignore[arg-type]
    names = list(sequences) if sequences is not None else ds.sequences()
    rows = []
    for name in names:
        seq = ds.sequence(name)
        first = seq.frame(0)
        t0 = time.perf_counter()
        first_mask = seq.mask(0) if seq.has_mask(0) else None
        d = flow_difficulty((seq.frame(i) for i in range(len(seq))), max_side=max_side, first_mask=first_mask)
        secs = time.perf_counter() - t0
        ciou = consecutive_mask_iou(seq.mask(i) for i in range(len(seq)) if seq.has_mask(i))
        rows.append(
            {
                "sequence": name,
                "split": split,
                "n_frames": len(seq),
                "height": int(first.shape[0]),
                "width": int(first.shape[1]),
                **d.to_dict(),
                "consecutive_iou": round(ciou, 6),
                "seconds": round(secs, 3),
            }
        )
    cols = ["sequence", "split", "n_frames", "height", "width", "score", "mean_flow_magnitude",
            "flow_magnitude_p95", "mean_warp_error", "flow_mask_iou", "consecutive_iou", "seconds"]
    return pd.DataFrame(rows, columns=cols)


def _pearson(x: Any, y: Any) -> tuple[float, float]:
    from scipy.stats import pearsonr

    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), float("nan")
    r, p = pearsonr(x, y)
    return float(r), float(p)


def correlate(df: Any, j_column: str = "J", *, score_column: str = "score") -> dict[str, float]:
    """Pearson r (and two-sided p) of the flow score and of consecutive GT IoU against ``j_column``.

    ``df`` is a :func:`difficulty_table` frame with a J column joined in (per-sequence OSVOS J
    mean). Expected signs if the estimate works: flow score vs J negative (harder = lower J),
    consecutive IoU vs J positive (the paper's Fig. 10). Also reports score vs consecutive IoU
    (needs no J) and each score component vs J. NaN where fewer than 3 rows or no spread.
    """
    if j_column not in df.columns:
        raise KeyError(f"column {j_column!r} not in the table (has {list(df.columns)}); join OSVOS J first")
    out: dict[str, float] = {"n": float(df[[score_column, j_column]].dropna().shape[0])}
    out["pearson_r_flow_vs_j"], out["p_flow_vs_j"] = _pearson(df[score_column], df[j_column])
    out["pearson_r_consecutive_iou_vs_j"], out["p_consecutive_iou_vs_j"] = _pearson(df["consecutive_iou"], df[j_column])
    out["pearson_r_flow_vs_consecutive_iou"], _ = _pearson(df[score_column], df["consecutive_iou"])
    for comp in ("mean_flow_magnitude", "flow_magnitude_p95", "mean_warp_error", "flow_mask_iou"):
        if comp in df.columns:
            out[f"pearson_r_{comp}_vs_j"], _ = _pearson(df[comp], df[j_column])
    return out


def score_vs_consecutive_iou(df: Any) -> dict[str, float]:
    """Pearson r of the flow score and each component against ground-truth consecutive IoU
    (usable before any OSVOS J exists; expected negative: more motion, lower mask overlap)."""
    out: dict[str, float] = {"n": float(len(df))}
    for comp in ("score", "mean_flow_magnitude", "flow_magnitude_p95", "mean_warp_error", "flow_mask_iou"):
        if comp not in df.columns:
            continue
        out[f"pearson_r_{comp}_vs_consecutive_iou"], out[f"p_{comp}_vs_consecutive_iou"] = _pearson(
            df[comp], df["consecutive_iou"]
        )
    return out
