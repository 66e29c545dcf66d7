"""One DAVIS sequence as the protocols see it: its frames and ground truth (:class:`Clip`), the
OSVOS run on a set of annotated frames, the DAVIS scores of a run, the robot click loop, and the
JSON-able :class:`SequenceResult` with its documented ``per_sequence`` columns."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ivos_core.davis.config import DavisEvalConfig, EvalModels
from ivos_core.interactions import Click
from ivos_core.metrics import boundary_f, davis_jf, iou
from ivos_core.robot import robot_loop
from ivos_core.utils import atomic_write

__all__ = ["STAT_KEYS", "Clip", "SequenceResult", "sequence_columns"]

STAT_KEYS = ("J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay")


@dataclass
class SequenceResult:
    """Everything measured on one sequence, as plain rows (JSON-able; see :mod:`ivos_core.davis`).

    ``row``: the ``per_sequence`` row; ``frame_rows`` / ``correction_rows``: the long tables;
    ``skipped``: setting -> reason for settings not run on this sequence.
    """

    sequence: str
    status: str
    reason: str | None = None
    row: dict[str, Any] = field(default_factory=dict)
    frame_rows: list[dict[str, Any]] = field(default_factory=list)
    correction_rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    fingerprint: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return _clean(asdict(self))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SequenceResult":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def save(self, path: str | Path) -> Path:
        """Write atomically as JSON (a reader never sees half a file)."""
        return atomic_write(path, json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> "SequenceResult":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _clean(x: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        f = float(x)
        return f if math.isfinite(f) else None
    return x


def sequence_columns(config: DavisEvalConfig) -> list[str]:
    """The documented ``per_sequence`` columns for a config, in order."""
    cols = ["sequence", "status", "reason", "n_frames", "n_frames_total", "frame_stride", "height", "width",
            "consecutive_iou_mean", *STAT_KEYS, "JF_mean"]
    for s in config.init_settings():
        cols += [f"init_iou[{s}]"] + [f"{k}[{s}]" for k in STAT_KEYS]
    cols += ["worst_frame", "worst_iou"]
    cols += [f"refine_iou[{m}@{k}]" for m in config.correction_methods for k in config.correction_clicks]
    cols += [f"progressive_J_mean[{m}@{k}]" for m in config.correction_methods for k in config.progressive_clicks]
    cols += ["seconds"]
    return cols


# --------------------------------------------------------------------------------------------
# frames and ground truth
# --------------------------------------------------------------------------------------------


def _foreground(seq: Any, i: int, year: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(mask, void) of frame ``i``: 2016 object 1; 2017 the union of all objects, 255 void."""
    if year == 2016:
        return np.asarray(seq.mask(i), bool), None
    lab = seq.label(i)
    return (lab > 0) & (lab != 255), (lab == 255)


def _frame_indices(seq: Any, config: DavisEvalConfig) -> list[int]:
    n = len(seq)
    idx = list(range(0, n, config.frame_stride))
    if config.max_frames is not None:
        idx = idx[: config.max_frames]
    if len(idx) < 3:
        raise ValueError(f"sequence {seq.name!r}: {len(idx)} frame(s) selected of {n}; J&F need at least 3")
    return idx


def _downscale(f: np.ndarray, g: np.ndarray, v: np.ndarray | None, max_side: int | None):
    """Frame, GT and void resized so the longer side is at most ``max_side`` (None: as they are)."""
    if max_side is None or max(f.shape[:2]) <= max_side:
        return f, g, v
    s = max_side / max(f.shape[:2])
    size = (max(1, round(f.shape[1] * s)), max(1, round(f.shape[0] * s)))
    f = cv2.resize(f, size, interpolation=cv2.INTER_AREA)
    g = cv2.resize(g.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    if v is not None:
        v = cv2.resize(v.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    return f, g, v


def _load_sequence(seq: Any, config: DavisEvalConfig) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray | None]:
    """Frame indices, frames (T, H, W, 3) uint8, GT (T, H, W) bool and void (or None), resized."""
    idx = _frame_indices(seq, config)
    frames, gts, voids = [], [], []
    first_shape: tuple[int, ...] | None = None
    for i in idx:
        f = np.asarray(seq.frame(i))
        g, v = _foreground(seq, i, config.year)
        if g.shape != f.shape[:2]:
            raise ValueError(f"sequence {seq.name!r} frame {i}: annotation {g.shape} and frame {f.shape[:2]} differ")
        if first_shape is None:
            first_shape = f.shape
        elif f.shape != first_shape:
            raise ValueError(f"sequence {seq.name!r} frame {i}: size {f.shape[:2]} differs from frame 0's {first_shape[:2]}")
        f, g, v = _downscale(f, g, v, config.max_side)
        frames.append(f)
        gts.append(g)
        voids.append(v)
    if not gts[0].any():
        raise ValueError(f"sequence {seq.name!r}: the first frame's ground truth is empty (nothing to segment)")
    void = None if voids[0] is None else np.stack(voids)
    return idx, np.stack(frames), np.stack(gts), void


def _consecutive_gt_iou(seq: Any, year: int) -> float | None:
    """Mean IoU between consecutive annotated GT masks of the whole sequence (Fig. 10 x axis)."""
    from ivos_core.difficulty import consecutive_mask_iou

    masks = [_foreground(seq, i, year)[0] for i in range(len(seq)) if seq.has_mask(i)]
    return consecutive_mask_iou(masks) if len(masks) >= 2 else None


@dataclass
class Clip:
    """The evaluated frames of one sequence: ``idx`` (indices in the original sequence), ``frames``
    (T, H, W, 3) uint8, ``gts`` (T, H, W) bool, ``void`` (T, H, W) bool or None, and the
    :class:`SequenceResult` being filled."""

    name: str
    idx: list[int]
    frames: np.ndarray
    gts: np.ndarray
    void: np.ndarray | None
    res: SequenceResult

    @classmethod
    def load(cls, seq: Any, config: DavisEvalConfig, res: SequenceResult) -> "Clip":
        idx, frames, gts, void = _load_sequence(seq, config)
        return cls(res.sequence, idx, frames, gts, void, res)

    def __len__(self) -> int:
        return len(self.idx)

    def void_at(self, t: int) -> np.ndarray | None:
        return None if self.void is None else self.void[t]

    def add_frame_rows(self, setting: str, j: list[float], f: list[float]) -> None:
        """One ``per_frame`` row per frame of a run (``evaluated``: not the first or last frame)."""
        T = len(self)
        for t in range(T):
            self.res.frame_rows.append({
                "sequence": self.name, "frame": self.idx[t], "setting": setting, "iou": j[t], "boundary_f": f[t],
                "evaluated": 0 < t < T - 1,
            })


# --------------------------------------------------------------------------------------------
# OSVOS, scores, robot clicks
# --------------------------------------------------------------------------------------------


def _osvos(
    name: str, frames: np.ndarray, annotations: dict[int, np.ndarray], models: EvalModels, config: DavisEvalConfig,
    vs: Any = None,
) -> tuple[np.ndarray, Any]:
    """Fine-tune on ``annotations`` (frame -> mask) and propagate; returns masks (T, H, W) and the
    VideoSegmenter (reused for progressive refinement). An empty annotation predicts nothing."""
    from ivos_core.video import VideoSegmenter

    if vs is None:
        vs = VideoSegmenter(
            models.parent, device=config.device, options=config.osvos_options(),
            batch_size=config.batch_size, seed=config.seed,
        )
        vs.open(frames, name=name)
    for i, m in annotations.items():
        vs.set_mask(i, m, allow_empty=True)
    if not any(a.mask.any() for a in vs.state.annotations.values()):
        return np.zeros(frames.shape[:3], bool), vs
    vs.fit()
    vs.propagate_all()
    return np.stack([vs.mask(i) for i in range(len(frames))]), vs


def _scores(preds: np.ndarray, gts: np.ndarray, void: np.ndarray | None) -> tuple[dict[str, float], list[float], list[float]]:
    """DAVIS stats (first/last excluded) and per-frame J, F for all frames."""
    r = davis_jf(preds, gts, void_masks=void)
    n = len(gts)
    j, f = [math.nan] * n, [math.nan] * n
    for t, jv, fv in zip(r["frames"], r["J_per_frame"], r["F_per_frame"]):
        j[t], f[t] = jv, fv
    for t in (0, n - 1):
        v = None if void is None else void[t]
        j[t] = iou(preds[t], gts[t], ignore=v)
        f[t] = boundary_f(preds[t], gts[t], ignore=v)
    stats = {
        "J_mean": r["J"].mean, "J_recall": r["J"].recall, "J_decay": r["J"].decay,
        "F_mean": r["F"].mean, "F_recall": r["F"].recall, "F_decay": r["F"].decay,
        "JF_mean": r["JF_mean"],
    }
    return stats, j, f


def _robot_loop(
    predict: Callable[[list[Click], np.ndarray], np.ndarray],
    gt: np.ndarray,
    start: np.ndarray,
    n_max: int,
    void: np.ndarray | None = None,
) -> tuple[list[np.ndarray], list[Click]]:
    """Robot clicks 1..n_max on the current mask's errors (:func:`ivos_core.robot.robot_loop`);
    returns the mask after each click and the clicks.

    ``predict(clicks so far, current mask) -> mask``. When the robot finds nothing to fix the
    mask stays as it is for the remaining clicks.
    """

    def checked(clicks: list[Click], cur: np.ndarray | None) -> np.ndarray:
        pred = np.asarray(predict(clicks, cur), bool)
        if pred.shape != gt.shape:
            raise ValueError(f"a method returned a {pred.shape} mask for a {gt.shape} frame")
        return pred

    run = robot_loop(checked, gt, void, start=start, max_steps=n_max, pad=True)
    return run.masks, run.inputs
