"""Scores of a replay's masks: ground truth next to the video, per-frame rows, per-object summaries.

Kept apart from the replay's order (:mod:`~ivos_core.jobs.replay`) so that what a job measures can
be read (and tested) in one place. Several objects: every object is scored on the *resolved* label
maps (after overlaps were settled, :mod:`~ivos_core.jobs.objects`), against ground-truth object
``k`` for session object ``k`` (DAVIS-2017 annotations use the same ids).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ivos_core.metrics import iou

__all__ = ["load_ground_truth", "load_ground_truth_labels", "score_frames", "object_summary", "mean_or_none", "iou_or_none"]


def load_ground_truth_labels(video_path: Path, n_frames: int) -> list[np.ndarray | None] | None:
    """DAVIS layout (``JPEGImages/<res>/<seq>`` -> ``Annotations/<res>/<seq>``): ``uint8`` label maps
    per frame (0 background, k object k; DAVIS-2016 grey 0/255 masks become object 1; None where
    a frame has none); None when the video has no ground truth."""
    p = Path(video_path)
    if not p.is_dir() or len(p.parents) < 3 or p.parents[1].name != "JPEGImages":
        return None
    ann = p.parents[2] / "Annotations" / p.parent.name / p.name
    if not ann.is_dir():
        return None
    from ivos_core.data.common import read_label_map

    frames = sorted(q for q in p.iterdir() if q.suffix.lower() in (".jpg", ".jpeg", ".png"))
    out: list[np.ndarray | None] = []
    for f in frames[:n_frames]:
        m = ann / (f.stem + ".png")
        if m.is_file():
            lab = read_label_map(m)
            vals = set(np.unique(lab).tolist())
            # DAVIS 2016: grey 0/255 (or 0/1) -> object 1; 2017: object ids (255 = void, no object)
            out.append((lab > 0).astype(np.uint8) if vals <= {0, 255} or vals <= {0, 1} else lab.astype(np.uint8))
        else:
            out.append(None)
    return out if any(m is not None for m in out) else None


def load_ground_truth(video_path: Path, n_frames: int) -> list[np.ndarray | None] | None:
    """Object 1's ground-truth masks (see :func:`load_ground_truth_labels`)."""
    labels = load_ground_truth_labels(video_path, n_frames)
    return None if labels is None else [None if lab is None else lab == 1 for lab in labels]


def iou_or_none(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    if a is None or b is None:
        return None
    return float(iou(a, b))


def mean_or_none(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def score_frames(
    masks: list[np.ndarray], conf: list[float], annotated: set[int] | dict[int, Any], gt: list[np.ndarray | None] | None
) -> list[dict[str, Any]]:
    """One row per output frame: confidence, area, IoU to the previous frame and to ground truth."""
    rows = []
    for i, m in enumerate(masks):
        rec: dict[str, Any] = {
            "frame_index": i,
            "annotated": i in annotated,
            "confidence": round(conf[i], 4),
            "mask_area": int(m.sum()),
            "iou_prev_frame": iou_or_none(m, masks[i - 1]) if i > 0 else None,
        }
        if gt is not None and i < len(gt) and gt[i] is not None:
            rec["iou_gt"] = float(iou(m, gt[i]))
        rows.append(rec)
    return rows


def object_summary(
    object_id: int, name: str | None, frames: list[dict[str, Any]], n_iterations: int, n_annotated: int, frame_area: int
) -> dict[str, Any]:
    """One object's results (the ``objects`` entries of ``results.json``; analytics'
    ``job_object_results``): its frame rows condensed the way the job's own summary is."""
    gt_ious = [f["iou_gt"] for f in frames if "iou_gt" in f]
    consec = [f["iou_prev_frame"] for f in frames if f["iou_prev_frame"] is not None]
    return {
        "object_id": object_id, "name": name, "n_iterations": n_iterations, "n_annotated_frames": n_annotated,
        "mask_area_mean": mean_or_none([f["mask_area"] / float(max(1, frame_area)) for f in frames]),
        "consecutive_iou_mean": mean_or_none(consec),
        "mean_confidence": mean_or_none([f["confidence"] for f in frames]),
        "final_iou": mean_or_none(gt_ious),
    }
