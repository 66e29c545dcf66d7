"""Click-encoding speed: 20 random clicks on an 854x480 (DAVIS 480p) frame.

The encoder runs once per user interaction before every forward pass, so it must be negligible
next to the network: the target is under 10 ms for the Gaussian encoding on a laptop-class CPU.
Run: ``python -m benchmarks.bench_encoding``.
"""

from __future__ import annotations

import json

import numpy as np

from benchmarks.common import machine, timeit
from ivos_core.interactions import Click
from ivos_core.interactive.encoding import distance_maps, gaussian_map

WIDTH, HEIGHT, N_CLICKS = 854, 480, 20
TARGET_MS = 10


def _clicks(seed: int = 0) -> list[Click]:
    """``N_CLICKS`` clicks at random pixels, alternating positive and negative."""
    rng = np.random.default_rng(seed)
    return [
        Click(x=float(rng.integers(WIDTH)), y=float(rng.integers(HEIGHT)), positive=bool(i % 2 == 0))
        for i in range(N_CLICKS)
    ]


def run(repeats: int = 20) -> dict:
    """Median milliseconds of each encoding, and whether the Gaussian one meets the target."""
    clicks = _clicks()
    g = timeit(lambda: gaussian_map(clicks, HEIGHT, WIDTH), repeats=repeats, warmup=2)
    d = timeit(lambda: distance_maps(clicks, HEIGHT, WIDTH), repeats=repeats, warmup=2)
    gaussian_ms = 1000.0 * g["median_s"]
    return {
        "benchmark": "encoding",
        "size": f"{WIDTH}x{HEIGHT}",
        "n_clicks": N_CLICKS,
        "repeats": repeats,
        "gaussian_ms": round(gaussian_ms, 3),
        "gaussian_min_ms": round(1000.0 * g["min_s"], 3),
        "distance_ms": round(1000.0 * d["median_s"], 3),
        "distance_min_ms": round(1000.0 * d["min_s"], 3),
        "target_ms": TARGET_MS,
        "meets_target": bool(gaussian_ms < TARGET_MS),
        "machine": machine(),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
