"""Per-sequence statistics for Fig. 10 and the difficulty estimate (issue 6, item 5).

Fig. 10's x axis is the mean IoU between consecutive ground-truth masks of a sequence: low IoU
means fast motion or deformation, which the paper finds makes OSVOS fail. This module computes it
from a DAVIS-style ``Annotations/<res>/<sequence>/*.png`` tree into rows for the
``sequence_stats`` table (``kind = 'ground_truth'``).

The difficulty estimate (item 5, :mod:`ivos_core.difficulty`) goes into the same table with
``kind = 'flow'`` (:func:`flow_sequence_stats`): ``difficulty`` is the frames-only Farnebäck score
(computable before any annotation), ``flow_magnitude_mean`` its mean flow, and
``consecutive_iou_mean`` the flow's estimate of the consecutive-mask IoU (the first mask carried
along the flow, ``flow_mask_iou``). ``osvos_difficulty`` takes ``stats_kind``, so both kinds are
correlated with OSVOS J by the same query.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image


def consecutive_iou(masks: list[np.ndarray]) -> float:
    """Mean IoU of foreground (any object label > 0) between consecutive masks; 1.0 if both empty;
    NaN with fewer than two masks. The measure is :func:`ivos_core.difficulty.consecutive_mask_iou`
    (one definition for the difficulty estimate and Fig. 10)."""
    from ivos_core.difficulty import consecutive_mask_iou

    if len(masks) < 2:
        return float("nan")
    return consecutive_mask_iou(np.asarray(m) > 0 for m in masks)


def davis_sequence_stats(annotations: Path | str, dataset: str = "davis", step: int = 1) -> pd.DataFrame:
    """One row per sequence folder under ``annotations`` (``Annotations/480p``)."""
    root = Path(annotations)
    rows = []
    for seq in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(seq.glob("*.png"))[::step]
        masks = [np.asarray(Image.open(f)) for f in files]
        rows.append({"dataset": dataset, "sequence": seq.name, "kind": "ground_truth",
                     "n_frames": len(files), "consecutive_iou_mean": consecutive_iou(masks)})
    return pd.DataFrame(rows)


def flow_sequence_stats(table: pd.DataFrame, dataset: str = "davis") -> pd.DataFrame:
    """Rows for ``sequence_stats`` (``kind = 'flow'``) from :func:`ivos_core.difficulty.difficulty_table`."""
    rows = pd.DataFrame({
        "dataset": dataset,
        "sequence": table["sequence"].astype(str),
        "kind": "flow",
        "n_frames": table["n_frames"].astype("int64"),
        "consecutive_iou_mean": pd.to_numeric(table["flow_mask_iou"], errors="coerce"),
        "flow_magnitude_mean": pd.to_numeric(table["mean_flow_magnitude"], errors="coerce"),
        "difficulty": pd.to_numeric(table["score"], errors="coerce"),
    })
    return rows.reset_index(drop=True)
