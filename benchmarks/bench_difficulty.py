"""Motion difficulty (``ivos_core.difficulty``): speed per frame and the DAVIS correlation.

* ``seconds_per_frame``: :func:`flow_difficulty` on 24 generated 854x480 RGB frames (a
  textured square moving over a panning textured background) with ``max_side=320``: grey
  conversion, area downscale, Farnebäck flow and the warp error. Median over ``repeats``.
* ``davis``: when the shared DAVIS folder exists (``IVOS_DATA`` or ``../shared/data``), the
  per-sequence table of every sequence of the ``val`` and ``train`` lists (flow score and
  consecutive ground-truth mask IoU, paper Fig. 10) and the Pearson r between them (expected
  negative: more motion, lower overlap), and of ``flow_mask_iou`` (the first-frame mask carried
  along the flow; expected positive). OSVOS J is not part of this benchmark; join it later
  and call :func:`ivos_core.difficulty.correlate`.

Run: ``python -m benchmarks.bench_difficulty`` (prints JSON).
"""

from __future__ import annotations

import json
import time
from typing import Any

import cv2
import numpy as np

from benchmarks.common import machine, shared_data_root, timeit
from ivos_core.difficulty import difficulty_table, flow_difficulty, score_vs_consecutive_iou

N_FRAMES = 24
SIZE = (480, 854)
MAX_SIDE = 320


def generated_frames(n: int = N_FRAMES, seed: int = 0) -> list[np.ndarray]:
    """``n`` (480, 854, 3) uint8 frames: a 120 px textured square moving 6 px/frame over a
    background panning 2 px/frame."""
    rng = np.random.default_rng(seed)
    h, w = SIZE
    bg = (cv2.resize(rng.random((24, 44, 3)).astype(np.float32), (w + 2 * n, h), interpolation=cv2.INTER_CUBIC)
          .clip(0, 1) * 255).astype(np.uint8)
    obj = (cv2.resize(rng.random((6, 6, 3)).astype(np.float32), (120, 120), interpolation=cv2.INTER_CUBIC)
           .clip(0, 1) * 255).astype(np.uint8)
    frames = []
    for t in range(n):
        f = bg[:, 2 * t : 2 * t + w].copy()
        x = 100 + 6 * t
        f[180:300, x : x + 120] = obj
        frames.append(f)
    return frames


def run(repeats: int = 1) -> dict[str, Any]:
    frames = generated_frames()
    t = timeit(lambda: flow_difficulty(frames, max_side=MAX_SIDE), repeats=max(1, repeats), warmup=1)
    out: dict[str, Any] = {
        "machine": machine(),
        "frames": {"n": N_FRAMES, "height": SIZE[0], "width": SIZE[1], "max_side": MAX_SIDE},
        "seconds_per_frame": round(t["median_s"] / N_FRAMES, 5),
        "generated_score": flow_difficulty(frames, max_side=MAX_SIDE).to_dict(),
    }
    root = shared_data_root()
    davis = root / "DAVIS" if root is not None else None
    if davis is None or not davis.is_dir():
        out["davis"] = {"skipped": "no DAVIS folder in the shared data (IVOS_DATA or ../shared/data)"}
        return out
    import pandas as pd

    t0 = time.perf_counter()
    df = pd.concat([difficulty_table(davis, s, max_side=MAX_SIDE) for s in ("val", "train")], ignore_index=True)
    wall = time.perf_counter() - t0
    corr = score_vs_consecutive_iou(df)
    out["davis"] = {
        "n_sequences": int(len(df)),
        "n_frames": int(df["n_frames"].sum()),
        "seconds_total": round(wall, 2),
        "seconds_per_frame_incl_decode": round(wall / max(1, int(df["n_frames"].sum())), 5),
        "pearson_r_score_vs_consecutive_iou": round(corr["pearson_r_score_vs_consecutive_iou"], 4),
        "p_score_vs_consecutive_iou": round(corr["p_score_vs_consecutive_iou"], 4),
        "pearson_r_mean_flow_vs_consecutive_iou": round(corr["pearson_r_mean_flow_magnitude_vs_consecutive_iou"], 4),
        "pearson_r_flow_p95_vs_consecutive_iou": round(corr["pearson_r_flow_magnitude_p95_vs_consecutive_iou"], 4),
        "pearson_r_warp_error_vs_consecutive_iou": round(corr["pearson_r_mean_warp_error_vs_consecutive_iou"], 4),
        "pearson_r_flow_mask_iou_vs_consecutive_iou": round(corr["pearson_r_flow_mask_iou_vs_consecutive_iou"], 4),
        "p_flow_mask_iou_vs_consecutive_iou": round(corr["p_flow_mask_iou_vs_consecutive_iou"], 4),
        "per_sequence": df.drop(columns=["seconds"]).round(5).to_dict(orient="records"),
    }
    return out


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(run(), indent=2))
