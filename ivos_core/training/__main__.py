"""``python -m ivos_core.training --config lite --data DIR --out DIR [--steps N] [--resume]``.

Trains the interactive network on BSDS500 regions + DAVIS-2016 train frames + synthetic images
found under ``--data`` (never GrabCut or DAVIS validation), printing progress lines.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

from ivos_core.training import default_sources, preset, train


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ivos_core.training", description=__doc__)
    ap.add_argument("--config", default="lite", choices=["lite", "paper"])
    ap.add_argument("--data", default=os.environ.get("IVOS_DATA"), help="data root (BSDS500/, DAVIS/)")
    ap.add_argument("--out", required=True, help="output folder (checkpoints, metrics)")
    ap.add_argument("--steps", type=int, default=None, help="total steps (split between stages as in the preset)")
    ap.add_argument("--encoding", choices=["gaussian", "distance"], default=None)
    ap.add_argument("--no-mask", action="store_true", help="train without the previous-mask channel")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--davis-stride", type=int, default=2)
    ap.add_argument("--synthetic", type=int, default=2000, help="number of synthetic images (0: none)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--stage2-mix", default=None, metavar="NONE,PERTURBED,PREDICTED",
                    help="stage-2 example mix: weights of no previous mask / perturbed ground truth / "
                         "the stage-1 model's own prediction (default: the preset's)")
    ap.add_argument("--init-from", default=None, metavar="CKPT",
                    help="start from this interactive checkpoint (same network) instead of fresh weights")
    ap.add_argument("--stage2-only", action="store_true",
                    help="spend every step in stage 2 (with --init-from: the starting model makes the "
                         "stage-2 previous masks)")
    ap.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the preset's)")
    ap.add_argument("--p-corrections-only", type=float, default=None,
                    help="share of perturbed-mask stage-2 examples shaped like correcting a propagated "
                         "video mask (heavy error, correction clicks only)")
    ap.add_argument("--boundary-weight", type=float, default=None,
                    help="extra cross-entropy weight near the object's boundary (default 0: off)")
    ap.add_argument("--boundary-radius", type=int, default=None, help="that band's half-width in pixels (default 3)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--stop-at", type=int, default=None, metavar="STEP",
                    help="stop after STEP steps of the schedule (a time-boxed run; --resume continues it, "
                         "also under another --steps, as the iFCN's recorded schedule does)")
    a = ap.parse_args(argv)
    over: dict = {"out_dir": a.out}
    for key, val in (("encoding", a.encoding), ("batch_size", a.batch_size), ("num_workers", a.workers),
                     ("threads", a.threads), ("seed", a.seed), ("init_from", a.init_from), ("lr", a.lr),
                     ("p_corrections_only", a.p_corrections_only), ("boundary_weight", a.boundary_weight),
                     ("boundary_radius", a.boundary_radius)):
        if val is not None:
            over[key] = val
    if a.stage2_mix is not None:
        try:
            mix = tuple(float(v) for v in a.stage2_mix.split(","))
        except ValueError:
            ap.error(f"--stage2-mix expects three comma-separated numbers, got {a.stage2_mix!r}")
        over["stage2_mix"] = mix
    if a.no_mask:
        over["use_mask"] = False
    cfg = preset(a.config, **over)
    if a.steps is not None:
        cfg = cfg.with_total_steps(a.steps)
    if a.stage2_only:
        cfg = dataclasses.replace(cfg, stage1_steps=0, stage2_steps=cfg.total_steps)
    ts = default_sources(a.data, davis_stride=a.davis_stride, n_synthetic=a.synthetic)
    print(json.dumps({"config": cfg.to_dict(), "sources": ts.sizes(), "weights": ts.weights}), flush=True)
    t0 = time.time()

    def progress(p) -> None:
        print(f"step {p.step}/{p.total_steps} stage {p.stage} loss {p.loss:.4f} lr {p.lr:.2e} "
              f"{p.images_per_s:.1f} img/s elapsed {p.elapsed_s / 60:.1f} min", flush=True)

    res = train(cfg, ts.sources, weights=ts.weights, resume=a.resume, progress=progress, device=a.device,
                stop_at=a.stop_at)
    print(json.dumps({k: str(v) for k, v in res.__dict__.items()}), flush=True)
    print(f"done in {(time.time() - t0) / 60:.1f} min", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
