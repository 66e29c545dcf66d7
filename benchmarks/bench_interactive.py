"""Interactive model performance: per-click latency and training throughput (CPU or GPU).

``run(repeats)`` returns JSON-able numbers:

* ``lite``: ``set_image`` and ``predict`` (median over ``repeats``) at 854x480 without CRF
  (target: predict <= 100 ms on the 2-core CPU), with the fast CRF, and with the colour cue +
  clicked-component filter + fast CRF (the GrabCut-33 configuration); also channels-last;
* ``paper``: per-click latency of the ResNet-101/PSP network at 854x480 native size (reported;
  a GPU configuration: ~10+ s per click on this CPU);
* ``train_lite``: training throughput of ``lite`` in images/s (batch 8, 256 px crops), for the
  optimisation step alone and for the whole loop with example generation (synthetic source).

Run: ``OMP_WAIT_POLICY=PASSIVE python -m benchmarks.bench_interactive [repeats]`` (prints JSON).
On a shared, oversubscribed CPU the default OpenMP spin-waiting makes 2-thread torch 5-10x
slower; PASSIVE (or one thread) avoids that.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np
import torch

from benchmarks.common import machine, timeit


def _clicks(h: int, w: int):
    from ivos_core.interactions import Click

    return [Click(x=w * 0.5, y=h * 0.5), Click(x=w * 0.3, y=h * 0.6), Click(x=w * 0.05, y=h * 0.05, positive=False)]


def _latency(model, image: np.ndarray, repeats: int, **kw: Any) -> dict[str, Any]:
    from ivos_core.interactive.segmenter import InteractiveSegmenter

    seg = InteractiveSegmenter(model, device=kw.pop("device", "auto"), **kw)
    clicks = _clicks(*image.shape[:2])
    set_t = timeit(lambda: seg.set_image(image), repeats=repeats)
    prev = seg.predict(clicks[:1]).mask
    pred_t = timeit(lambda: seg.predict(clicks, prev_mask=prev), repeats=repeats)
    return {"set_image": set_t, "predict": pred_t, "input_size": seg.input_size, "device": str(seg.device)}


def _train_throughput(steps: int) -> dict[str, Any]:
    from ivos_core.models import build_interactive
    from ivos_core.training import InteractiveTrainSet, SyntheticSource, lite, loss_fn

    cfg = lite()
    torch.manual_seed(0)
    model = build_interactive("lite").train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ds = InteractiveTrainSet([SyntheticSource(64, 480, 854)], cfg, model.spec, stage=1)
    t0 = time.perf_counter()
    batches = [[ds[(s, j)] for j in range(cfg.batch_size)] for s in range(steps + 1)]
    data_s = (time.perf_counter() - t0) / (steps + 1)
    stacked = [tuple(torch.stack(t) for t in list(zip(*b))[:3]) for b in batches]

    def step(i: int) -> None:
        x, y, w = stacked[i]
        loss, _, _ = loss_fn(model(x), y, w, cfg.iou_loss_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step(0)  # warm-up
    t0 = time.perf_counter()
    for i in range(1, steps + 1):
        step(i)
    step_s = (time.perf_counter() - t0) / steps
    return {
        "batch_size": cfg.batch_size,
        "crop_size": cfg.crop_size,
        "step_s": step_s,
        "data_s_per_batch": data_s,
        "images_per_s_step_only": cfg.batch_size / step_s,
        "images_per_s_with_data": cfg.batch_size / (step_s + data_s),
    }


def run(repeats: int = 5, *, paper: bool = True, train_steps: int = 5) -> dict[str, Any]:
    from ivos_core.data.synthetic import synthetic_image
    from ivos_core.models import build_interactive

    torch.manual_seed(0)
    image = synthetic_image(np.random.default_rng(0), 480, 854).image
    out: dict[str, Any] = {"machine": machine(), "image": "854x480"}
    lite = build_interactive("lite").eval()
    out["lite"] = _latency(lite, image, repeats)
    out["lite_channels_last"] = _latency(lite, image, repeats, channels_last=True)
    out["lite_crf_fast"] = _latency(lite, image, repeats, crf=True, crf_mode="fast")
    out["lite_colour_crf_fast"] = _latency(
        lite, image, repeats, crf=True, crf_mode="fast", colour_weight=0.5, keep_clicked=True
    )
    out["lite"]["target_predict_s"] = 0.1
    out["lite"]["meets_target"] = out["lite"]["predict"]["median_s"] <= 0.1
    if paper:
        big = build_interactive("paper").eval()
        out["paper"] = _latency(big, image, max(1, min(repeats, 2)))
        del big
    out["train_lite"] = _train_throughput(train_steps)
    return out


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 5), indent=2))
