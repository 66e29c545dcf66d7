"""Dense CRF: full solve vs the fast uncertain-band solve (``ivos_core.interactive.crf.refine``).

For each GrabCut image (``<data root>/GrabCut``; generated images when absent) a soft
probability is made from the ground truth the way a 1/8-resolution network would produce it:
the GT is area-downscaled by 8, turned into a logit, perturbed with seeded Gaussian noise and
bilinearly upsampled. Both modes are timed on it; agreement is the IoU between the two results
thresholded at 0.5 (GrabCut's 128 ignore band excluded).

Targets: fast median <= 0.15 s per image and >= 4x faster than full.

Run: ``python -m benchmarks.bench_crf`` (prints JSON).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchmarks.common import machine, shared_data_root, timeit
from ivos_core.interactive.crf import CRFParams, refine
from ivos_core.metrics import iou

SEED = 0
LOGIT_SCALE = 6.0
NOISE_STD = 1.0


def soft_probability(gt: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``(H, W)`` float32 foreground probability from a bool GT, like an upsampled 1/8 output."""
    g = gt.astype(np.float32)
    h, w = g.shape
    small = cv2.resize(g, (max(1, w // 8), max(1, h // 8)), interpolation=cv2.INTER_AREA)
    logit = (small - 0.5) * LOGIT_SCALE + rng.normal(0.0, NOISE_STD, small.shape).astype(np.float32)
    logit = cv2.resize(logit, (w, h), interpolation=cv2.INTER_LINEAR)
    return (1.0 / (1.0 + np.exp(-logit))).astype(np.float32)


def _grabcut_items(root: Path) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    items = []
    for img_path in sorted((root / "data_GT").glob("*.jpg")):
        gt_path = root / "boundary_GT" / f"{img_path.stem}.bmp"
        if not gt_path.exists():
            continue
        bgr = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
        gt = cv2.imread(str(gt_path), cv2.IMREAD_GRAYSCALE)
        if bgr is None or gt is None or bgr.shape[:2] != gt.shape:
            continue
        items.append((img_path.stem, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), gt == 255, gt == 128))
    return items


def _generated_items(n: int = 6) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """Textured ellipses on a textured background, 320x480, with no ignore band."""
    rng = np.random.default_rng(SEED)
    items = []
    for i in range(n):
        h, w = 320, 480
        bg = rng.integers(0, 256, 3)
        fg = (bg + 128) % 256
        img = np.clip(bg + rng.normal(0, 20, (h, w, 3)), 0, 255)
        gt = np.zeros((h, w), np.uint8)
        cv2.ellipse(gt, (int(rng.integers(150, 330)), int(rng.integers(110, 210))),
                    (int(rng.integers(50, 120)), int(rng.integers(40, 90))),
                    float(rng.uniform(0, 180)), 0, 360, 1, -1)
        m = gt.astype(bool)
        img[m] = np.clip(fg + rng.normal(0, 20, (int(m.sum()), 3)), 0, 255)
        items.append((f"gen{i}", img.astype(np.uint8), m, np.zeros_like(m)))
    return items


def run(repeats: int = 3) -> dict[str, Any]:
    """Time full vs fast CRF per image; return medians, speed ratio and agreement (JSON-able)."""
    root = shared_data_root()
    gc_root = root / "GrabCut" if root is not None else None
    items = _grabcut_items(gc_root) if gc_root is not None and gc_root.is_dir() else []
    source = "GrabCut" if items else "generated"
    if not items:
        items = _generated_items()
    rng = np.random.default_rng(SEED)
    params = CRFParams()
    rows = []
    for name, img, gt, ign in items:
        prob = soft_probability(gt, rng)
        t_full = timeit(lambda: refine(img, prob, params, mode="full"), repeats=repeats)
        t_fast = timeit(lambda: refine(img, prob, params, mode="fast"), repeats=repeats)
        full = refine(img, prob, params, mode="full") >= 0.5
        fast = refine(img, prob, params, mode="fast") >= 0.5
        rows.append(
            {
                "image": name,
                "shape": list(img.shape[:2]),
                "full_s": t_full["median_s"],
                "fast_s": t_fast["median_s"],
                "iou_fast_vs_full": iou(fast, full, ign),
                "iou_input": iou(prob >= 0.5, gt, ign),
                "iou_full": iou(full, gt, ign),
                "iou_fast": iou(fast, gt, ign),
            }
        )
    full_med = statistics.median(r["full_s"] for r in rows)
    fast_med = statistics.median(r["fast_s"] for r in rows)
    ratios = [r["full_s"] / r["fast_s"] for r in rows]
    return {
        "benchmark": "crf",
        "source": source,
        "n_images": len(rows),
        "repeats": repeats,
        "seed": SEED,
        "params": params.__dict__,
        "full_median_s": full_med,
        "fast_median_s": fast_med,
        "speed_ratio_full_over_fast": full_med / fast_med,
        "speed_ratio_median_per_image": statistics.median(ratios),
        "mean_iou_fast_vs_full": float(np.mean([r["iou_fast_vs_full"] for r in rows])),
        "min_iou_fast_vs_full": float(np.min([r["iou_fast_vs_full"] for r in rows])),
        "mean_iou_diff_fast_minus_full_vs_gt": float(
            np.mean([r["iou_fast"] - r["iou_full"] for r in rows])
        ),
        "mean_iou_vs_gt": {
            "input": float(np.mean([r["iou_input"] for r in rows])),
            "full": float(np.mean([r["iou_full"] for r in rows])),
            "fast": float(np.mean([r["iou_fast"] for r in rows])),
        },
        "targets": {
            "fast_median_le_0.15s": fast_med <= 0.15,
            "ratio_ge_4x": full_med / fast_med >= 4.0,
        },
        "per_image": rows,
        "machine": machine(),
    }


if __name__ == "__main__":
    res = run()
    res.pop("per_image")
    print(json.dumps(res, indent=2))
