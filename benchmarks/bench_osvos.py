"""OSVOS speed: one-shot fine-tuning step time and propagation frames/s at 854x480 (DAVIS 480p).

* ``lite`` on this CPU (issue 4 targets: <= 0.5 s per fine-tuning step at batch 1 and >= 5
  frames/s propagation), measured with torch's default thread count and with one thread (on a
  shared machine one thread is often faster: two threads spin-wait on each other).
* ``paper`` (VGG-16) on the CPU for reference: one step on a 240x427 crop and one 854x480
  propagation frame, few repeats (a GPU configuration; seconds per call here).
* On a CUDA machine (``--device cuda``; used by the GPU script on lent machines) the paper
  configuration's 500 fine-tuning steps (bfloat16 autocast, channels-last; paper: ~1 min, target
  <= 30 s) and batched propagation (paper: ~100 ms/frame, target <= 10 ms/frame).

A fine-tuning step is a full :func:`ivos_core.video.finetune.finetune` step: augmentation warp,
forward with side outputs, class-balanced loss, backward, Adam. Propagation is
:meth:`ivos_core.video.VideoSegmenter.propagate_all` over an in-memory 854x480 clip (network,
sigmoid, confidence band, packed-bit mask storage), so it is the pipeline's rate, not only the
network's. Frames are synthetic (textured moving ellipse); speed does not depend on content.

Run: ``python -m benchmarks.bench_osvos [--device cuda] [--repeats 3]`` (prints JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import cv2
import numpy as np
import torch

from benchmarks.common import machine, timeit
from ivos_core.models.osvos import build_osvos
from ivos_core.video.finetune import finetune
from ivos_core.video import VideoSegmenter

H, W = 480, 854
SEED = 0


def clip(n_frames: int, height: int = H, width: int = W, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """``n_frames`` (T, H, W, 3) uint8 frames of a textured ellipse moving over noise, and masks."""
    rng = np.random.default_rng(seed)
    bg = cv2.resize(rng.integers(0, 255, (height // 16, width // 16, 3)).astype(np.uint8), (width, height))
    frames = np.empty((n_frames, height, width, 3), np.uint8)
    masks = np.zeros((n_frames, height, width), bool)
    for t in range(n_frames):
        m = np.zeros((height, width), np.uint8)
        cv2.ellipse(m, (width // 3 + 8 * t, height // 2), (width // 8, height // 5), 5 * t, 0, 360, 1, -1)
        f = np.roll(bg, 3 * t, axis=1).copy()
        f[m > 0] = (200, 60, 40)
        frames[t], masks[t] = f, m > 0
    return frames, masks


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _step_time(name: str, frames: np.ndarray, masks: np.ndarray, *, steps: int, repeats: int,
               device: str, warmup: int = 1, crop: tuple[int, int] | None = None) -> float:
    """Median seconds per fine-tuning step (``steps`` steps per timed call)."""
    torch.manual_seed(SEED)
    model = build_osvos(name, imagenet=False)
    def call() -> None:
        finetune(model, frames, masks, steps=steps, device=device, crop=crop)
        _sync(device)

    t = timeit(call, repeats=repeats, warmup=warmup)
    return t["median_s"] / steps


def _propagation(name: str, frames: np.ndarray, masks: np.ndarray, *, repeats: int, device: str,
                 batch_size: int, warmup: int = 1) -> dict[str, float]:
    torch.manual_seed(SEED)
    vs = VideoSegmenter(build_osvos(name, imagenet=False), device=device, finetune_steps=0, batch_size=batch_size)
    vs.open(frames, name=f"bench-{name}")
    vs.set_mask(0, masks[0])
    vs.fit(0)
    vs.remove_annotation(0)  # time every frame through the network
    t = timeit(lambda: vs.propagate_all(), repeats=repeats, warmup=warmup)
    return {"frames": len(frames), "batch_size": batch_size, "median_s": t["median_s"],
            "s_per_frame": t["median_s"] / len(frames), "fps": len(frames) / t["median_s"]}


def _lite_cpu(repeats: int, threads: int) -> dict[str, Any]:
    """Wall-clock figures with ``threads`` torch threads, plus this process's CPU seconds.

    With one thread, CPU seconds per step/frame are what the wall clock would read on an idle
    core: a figure that survives other processes competing for the machine.
    """
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        frames, masks = clip(16)
        c0 = time.process_time()
        step = _step_time("lite", frames[:1], masks[:1], steps=5, repeats=repeats, device="cpu")
        step_cpu = (time.process_time() - c0) / ((repeats + 1) * 5)
        c0 = time.process_time()
        prop = _propagation("lite", frames, masks, repeats=repeats, device="cpu", batch_size=4)
        prop["cpu_s_per_frame"] = (time.process_time() - c0) / ((repeats + 1) * len(frames))
    finally:
        torch.set_num_threads(old)
    return {"threads": threads, "finetune_step_s": step, "finetune_step_cpu_s": step_cpu, "propagation": prop}


def run(repeats: int = 3, *, device: str = "cpu", paper: bool = True) -> dict[str, Any]:
    """Measure and return JSON-able numbers (see the module docstring)."""
    res: dict[str, Any] = {"benchmark": "osvos", "size": [H, W], "repeats": repeats, "seed": SEED}
    if device == "cpu":
        res["loadavg_before"] = list(os.getloadavg())
        runs = [_lite_cpu(repeats, torch.get_num_threads())]
        if torch.get_num_threads() != 1:
            runs.append(_lite_cpu(repeats, 1))
        best_step = min(r["finetune_step_s"] for r in runs)
        best_fps = max(r["propagation"]["fps"] for r in runs)
        res["lite_cpu"] = runs
        res["lite_best"] = {"finetune_step_s": best_step, "propagation_fps": best_fps}
        res["targets"] = {"lite_step_le_0.5s": best_step <= 0.5, "lite_fps_ge_5": best_fps >= 5.0}
        if paper:
            frames, masks = clip(2)
            t0 = time.perf_counter()
            res["paper_cpu"] = {
                "finetune_step_s_crop_240x427": _step_time(
                    "paper", frames[:1], masks[:1], steps=1, repeats=1, device="cpu", warmup=0, crop=(240, 427)
                ),
                "propagation": _propagation("paper", frames[:1], masks[:1], repeats=1, device="cpu",
                                            batch_size=1, warmup=0),
            }
            res["paper_cpu"]["wall_s"] = time.perf_counter() - t0
        res["loadavg_after"] = list(os.getloadavg())
    else:
        frames, masks = clip(64)
        t0 = time.perf_counter()
        torch.manual_seed(SEED)
        model = build_osvos("paper", imagenet=False)
        finetune(model, frames[:1], masks[:1], steps=10, device=device)  # warm-up (cuDNN autotune)
        _sync(device)
        t1 = time.perf_counter()
        finetune(model, frames[:1], masks[:1], steps=500, device=device)
        _sync(device)
        ft = time.perf_counter() - t1
        prop = _propagation("paper", frames, masks, repeats=repeats, device=device, batch_size=16)
        lite_prop = _propagation("lite", frames, masks, repeats=repeats, device=device, batch_size=16)
        res["paper_gpu"] = {
            "finetune_500_steps_s": ft,
            "propagation": prop,
            "lite_propagation": lite_prop,
            "wall_s": time.perf_counter() - t0,
        }
        res["targets"] = {
            "paper_500_steps_le_30s": ft <= 30.0,
            "paper_ms_per_frame_le_10": prop["s_per_frame"] * 1000 <= 10.0,
        }
    res["machine"] = machine()
    return res


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-paper", action="store_true", help="skip the (slow) paper config on the CPU")
    args = ap.parse_args()
    print(json.dumps(run(args.repeats, device=args.device, paper=not args.no_paper), indent=2))
