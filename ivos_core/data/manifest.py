"""Dataset manifests and per-video statistics.

Why: evaluations record exactly which files they ran on (a SHA-1 of each image file makes a
silently changed dataset visible), and the paper's analysis of refinement effort against video
difficulty (Fig. 10) needs per-video facts such as how much the object changes between frames.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ivos_core.data.common import ImageDataset, Sample, SampleError
from ivos_core.data.davis import DavisSequence

MANIFEST_COLUMNS = [
    "sample_id",
    "image_path",
    "mask_path",
    "height",
    "width",
    "object_area",
    "area_frac",
    "sha1",
]


def _sha1_file(path: str | Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _row(s: Sample, sha_cache: dict[str, str]) -> dict[str, Any]:
    if s.source and Path(s.source).is_file():
        if s.source not in sha_cache:
            sha_cache[s.source] = _sha1_file(s.source)
        sha = sha_cache[s.source]
    else:  # in-memory sample: hash the pixels
        sha = hashlib.sha1(np.ascontiguousarray(s.image).tobytes()).hexdigest()
    area = s.area
    return {
        "sample_id": s.sample_id,
        "image_path": s.source,
        "mask_path": s.meta.get("mask_path", ""),
        "height": s.height,
        "width": s.width,
        "object_area": area,
        "area_frac": area / float(s.height * s.width),
        "sha1": sha,
    }


def build_manifest(dataset: ImageDataset) -> tuple[pd.DataFrame, list[SampleError]]:
    """Load every sample once; return (one row per loadable sample, the broken items).

    Columns: ``sample_id`` (str), ``image_path`` (str), ``mask_path`` (str, "" if none),
    ``height``/``width``/``object_area`` (int64; area excludes ignore pixels), ``area_frac``
    (float64), ``sha1`` (hex of the image file's bytes; of the pixel bytes for in-memory samples).
    Images shared by several samples (instances, regions) are hashed once.
    """
    rows: list[dict[str, Any]] = []
    errors: list[SampleError] = []
    sha_cache: dict[str, str] = {}
    for res in dataset.iter_results():
        if isinstance(res, SampleError):
            errors.append(res)
        else:
            rows.append(_row(res, sha_cache))
    df = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    for col in ("height", "width", "object_area"):
        df[col] = df[col].astype("int64")
    df["area_frac"] = df["area_frac"].astype("float64")
    return df, errors


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def video_statistics(sequence: DavisSequence, obj_id: int = 1) -> dict[str, Any]:
    """Facts about one annotated sequence, read from its ground-truth masks (frames are not
    decoded, except the first one when no frame is annotated, for the size).

    Returns ``name``, ``n_frames``, ``n_annotated``, ``height``, ``width``, ``mean_area``
    (pixels), ``mean_area_frac``, ``mean_consecutive_iou`` (mean IoU between masks of
    consecutive annotated frames: low = fast motion / deformation; NaN with < 2 annotated
    frames; an empty pair counts as IoU 1), ``min_consecutive_iou`` and ``empty_frames``
    (annotated frames where the object is absent).
    """
    idx = [i for i in range(len(sequence)) if sequence.has_mask(i)]
    masks_prev: np.ndarray | None = None
    areas: list[int] = []
    ious: list[float] = []
    h = w = 0
    for i in idx:
        m = sequence.mask(i, obj_id)
        h, w = m.shape
        areas.append(int(m.sum()))
        if masks_prev is not None:
            ious.append(_iou(masks_prev, m))
        masks_prev = m
    if not idx and len(sequence):
        h, w = sequence.frame(0).shape[:2]
    nan = float("nan")
    return {
        "name": sequence.name,
        "obj_id": obj_id,
        "n_frames": len(sequence),
        "n_annotated": len(idx),
        "height": int(h),
        "width": int(w),
        "mean_area": float(np.mean(areas)) if areas else nan,
        "mean_area_frac": float(np.mean(areas)) / (h * w) if areas and h * w else nan,
        "mean_consecutive_iou": float(np.mean(ious)) if ious else nan,
        "min_consecutive_iou": float(np.min(ious)) if ious else nan,
        "empty_frames": int(sum(a == 0 for a in areas)),
    }
