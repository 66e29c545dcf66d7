"""Cost per click of the shipped model's GrabCut boundary refinement (``ivos_core.interactive.grabcut_refine``).

The refinement runs after the network, the colour cue and the CRF on every click, so it adds
directly to the annotation app's click -> mask latency and to NoC evaluations. Timed on a
synthetic 854x480 image (a DAVIS frame's size) with objects of three sizes, a network-like mask
(the object grown by 4 px), band 0.05 and 3 iterations as shipped; process CPU time (what an idle
core would take) and wall time (inflated on a busy machine), median of ``repeats``.

Run: ``python -m benchmarks.bench_grabcut_refine`` (prints JSON) or ``python -m benchmarks.run
--only grabcut_refine``.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import cv2
import numpy as np

from ivos_core.interactive.grabcut_refine import grabcut_refine


def _scene(rng: np.random.Generator, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """A textured 854x480 image with one disk-and-box object of about ``2 * radius`` px."""
    h, w = 480, 854
    img = rng.integers(60, 120, size=(h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    cv2.circle(mask, (w // 2, h // 2), radius, 1, -1)
    cv2.rectangle(mask, (w // 2, h // 2 - radius // 3), (w // 2 + int(radius * 1.3), h // 2 + radius // 3), 1, -1)
    obj = mask.astype(bool)
    img[obj] = np.clip(img[obj].astype(int) + rng.integers(50, 90, size=3), 0, 255).astype(np.uint8)
    return img, obj


def run(repeats: int = 5) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    res: dict[str, Any] = {"benchmark": "grabcut_refine", "size": [480, 854], "band": 0.05, "iterations": 3,
                           "repeats": repeats, "loadavg_before": list(os.getloadavg()), "objects": {}}
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
    for radius in (50, 100, 180):
        img, obj = _scene(rng, radius)
        guess = cv2.dilate(obj.astype(np.uint8), kernel).astype(bool)
        cpu, wall = [], []
        for _ in range(repeats):
            c0, t0 = time.process_time(), time.perf_counter()
            grabcut_refine(img, guess, band=0.05, iterations=3)
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - t0)
        res["objects"][f"radius{radius}"] = {"object_fraction": round(float(obj.mean()), 4),
                                             "cpu_s": round(float(np.median(cpu)), 4),
                                             "wall_s": round(float(np.median(wall)), 4)}
    res["loadavg_after"] = list(os.getloadavg())
    return res


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
