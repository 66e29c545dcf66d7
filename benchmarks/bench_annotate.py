"""Annotation app latency: click -> mask through the real HTTP API (uvicorn + httpx, keep-alive).

``run(repeats)`` serves the app on 127.0.0.1 with the ``lite`` interactive network (random
weights: the same compute as a trained one) and the fast dense CRF, opens a synthetic 854x480
video, selects frame 0 (``set_image``) and sends ``repeats`` single clicks, one iteration each, as
the page does. Each latency is the wall time from sending the request to holding the decoded
(H, W) mask on the client (JSON parse + run-length decode included; the browser's drawing, a few
ms, is not). Reported: median / p90 / max, the server-side model time, the first-frame
``select`` time, the issue's target (median <= 250 ms on the 2-core CPU), the load average, and
the CPU seconds spent per click (the latency on an idle core: on a shared CPU, where this
process gets only a share of a core, wall time = CPU time / share).

Run: ``OMP_WAIT_POLICY=PASSIVE python -m benchmarks.run --only annotate``.
"""

from __future__ import annotations

import json
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import machine

TARGET_S = 0.25


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _decode(rle: dict[str, Any]) -> np.ndarray:
    h, w = rle["size"]
    counts = np.asarray(rle["counts"], np.int64)
    vals = np.zeros(len(counts), bool)
    vals[1::2] = True
    return np.repeat(vals, counts).reshape(h, w)


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def run(repeats: int = 30, *, height: int = 480, width: int = 854, crf: bool = True, shipped: str | None = None,
        flip: bool | None = None, grabcut_refine: bool | None = None,
        grabcut_max_side: int | None = None) -> dict[str, Any]:
    """``shipped``: serve that shipped model (``models/<name>``) with its own interactive options
    (colour cue, GrabCut refinement, mirror averaging...) and the fast CRF, instead of random
    ``lite`` weights without them: what an annotator of the shipped model waits. ``flip``
    overrides the model's mirror averaging (``ivos annotate --flip/--no-flip``); ``grabcut_refine=False``
    drops its GrabCut boundary refinement (``ivos annotate --no-grabcut-refine``)."""
    import httpx
    import torch
    import uvicorn

    from flows.annotate.app import AnnotateConfig, create_app
    from ivos_core.checkpoints import save_checkpoint
    from ivos_core.data.synthetic import write_synthetic_video
    from ivos_core.jobs import resolve_model
    from ivos_core.models import build_interactive
    from ivos_core.annotation.workspace import build_method, build_video_segmenter

    tmp = Path(tempfile.mkdtemp(prefix="ivos-bench-annotate-"))
    write_synthetic_video(tmp / "data" / "davis", "synth", n_frames=3, seed=0, height=height, width=width)
    if shipped:
        spec = resolve_model(shipped, finetune_steps=1)
    else:
        torch.manual_seed(0)
        save_checkpoint(tmp / "models" / "lite-random" / "interactive", build_interactive("lite"), {})
        spec = resolve_model("lite-random", models_dir=tmp / "models", finetune_steps=1)
    overrides: dict[str, Any] = {} if flip is None else {"flip_tta": flip}
    if grabcut_refine is False:
        overrides["grabcut_band"] = None
    elif grabcut_max_side is not None:
        overrides["grabcut_max_side"] = grabcut_max_side
    method = build_method(spec, device="cpu", crf=crf, crf_mode="fast", **overrides)
    config = AnnotateConfig(roots=[tmp / "data"], sessions_dir=tmp / "sessions", method=method,
                            video_segmenter=lambda: build_video_segmenter(spec, device="cpu"), model_name=spec.version)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    while not srv.started:
        time.sleep(0.02)
    load_before = _load()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
            sid = c.post("/api/sessions", json={"uri": "davis/JPEGImages/480p/synth"}).json()["session_id"]
            t0 = time.perf_counter()
            c.post(f"/api/sessions/{sid}/select", json={"frame_index": 0}).raise_for_status()
            select_s = time.perf_counter() - t0
            rng = np.random.default_rng(0)
            lat, model, cpu = [], [], []
            for k in range(repeats + 1):  # the first click is a warm-up
                x, y = float(rng.uniform(0.3, 0.7) * (width - 1)), float(rng.uniform(0.3, 0.7) * (height - 1))
                body = {"frame_index": 0, "inputs": [{"kind": "click", "x": x, "y": y, "positive": bool(k % 4 != 3)}]}
                t0, c0 = time.perf_counter(), time.process_time()
                r = c.post(f"/api/sessions/{sid}/interact", json=body)
                r.raise_for_status()
                d = r.json()
                mask = _decode(d["mask"])
                dt, dc = time.perf_counter() - t0, time.process_time() - c0
                assert mask.shape == (height, width)
                if k:
                    lat.append(dt)
                    model.append(d["model_ms"] / 1000.0)
                    cpu.append(dc)
    finally:
        srv.should_exit = True
        th.join(10)
    med = statistics.median(lat)
    return {
        "machine": machine(),
        "image": f"{width}x{height}",
        "model": (f"shipped {shipped}: its interactive options {dict(spec.interactive_options)}"
                  + "".join(f", {k}={v}" for k, v in overrides.items()) if shipped
                  else "lite (random weights)") + (" + fast CRF" if crf else ""),
        "click_to_mask": {
            "median_s": med,
            "p90_s": float(np.percentile(lat, 90)),
            "min_s": min(lat),
            "max_s": max(lat),
            "repeats": len(lat),
        },
        # CPU seconds this process (server + client) spent per click: what a click costs on an
        # idle core; on a shared, oversubscribed CPU the wall time above is this / the CPU share
        "cpu_s_per_click_median": statistics.median(cpu),
        "cpu_share": statistics.median(cpu) / med if med > 0 else None,
        "torch_threads": torch.get_num_threads(),
        "server_model_median_s": statistics.median(model),
        "http_overhead_median_s": med - statistics.median(model),
        "select_frame_s": select_s,
        "target_median_s": TARGET_S,
        "meets_target": med <= TARGET_S,
        "loadavg_before": load_before,
        "loadavg_after": _load(),
    }


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="annotation app click latency")
    ap.add_argument("repeats", nargs="?", type=int, default=30)
    ap.add_argument("--shipped", default=None, help="serve this shipped model with its options (e.g. ivos-lite-v1)")
    ap.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None, help="override its mirror averaging")
    ap.add_argument("--grabcut-refine", action=argparse.BooleanOptionalAction, default=None,
                    help="--no-grabcut-refine drops the model's GrabCut boundary refinement")
    ap.add_argument("--grabcut-max-side", type=int, default=None, help="run the refinement on a crop downscaled to this side")
    a = ap.parse_args()
    print(json.dumps(run(a.repeats, shipped=a.shipped, flip=a.flip, grabcut_refine=a.grabcut_refine,
                         grabcut_max_side=a.grabcut_max_side), indent=2))
