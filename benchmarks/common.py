"""Shared timing helpers for the benchmark modules.

Every benchmark module ``benchmarks/bench_<name>.py`` exposes ``run(repeats: int) -> dict`` and
returns plain JSON-able numbers; :func:`timeit` gives median/min/max seconds over ``repeats``.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable


def timeit(fn: Callable[[], Any], repeats: int = 5, warmup: int = 1) -> dict[str, float]:
    """Call ``fn`` ``warmup`` times untimed, then ``repeats`` times; return seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "repeats": repeats,
    }


def machine() -> dict[str, Any]:
    """What the numbers were measured on (reported with every figure)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except Exception:  # torch missing is fine for non-torch benchmarks
        pass
    return info


def shared_data_root() -> Path | None:
    """The real-data folder (``IVOS_DATA`` or ``../shared/data``) when it exists."""
    env = os.environ.get("IVOS_DATA")
    cands = [Path(env)] if env else []
    cands.append(Path(__file__).resolve().parents[1].parent / "shared" / "data")
    for c in cands:
        if c.is_dir():
            return c
    return None
