"""Combine `ivos eval video-select` runs of the same grid with different seeds into one selection
file: per candidate its J per sequence and seed, the mean over both, and the choice by the rule
declared before the runs (the highest mean J over sequences and seeds; ties: the earlier, i.e.
cheaper or default, candidate). Fails unless every run holds the same candidates and sequences
and names a development split.

Usage: python scripts/combine_video_seeds.py OUT.json RUN_SEED0.json RUN_SEED1.json [...] [--what TEXT]
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np


def combine(runs: list[dict], what: str) -> dict:
    labels = [c["label"] for c in runs[0]["candidates"]]
    seqs = runs[0]["sequences"]
    for r in runs:
        if [c["label"] for c in r["candidates"]] != labels or r["sequences"] != seqs:
            raise SystemExit("the runs do not hold the same candidates and sequences")
        if r["split"] != "train":
            raise SystemExit(f"run with split {r['split']!r}: video settings are chosen on the train (development) sequences")
    cands = []
    for i, label in enumerate(labels):
        per_seed = {str(r["seed"]): r["candidates"][i]["J"] for r in runs}
        j_mean = float(np.mean([v for js in per_seed.values() for v in js.values()]))
        cands.append({"label": label, "options": runs[0]["candidates"][i]["options"], "J_by_seed": per_seed,
                      "J_mean_by_seed": {s: float(np.mean(list(js.values()))) for s, js in per_seed.items()},
                      "J_mean": j_mean})
    best = max(cands, key=lambda c: c["J_mean"])
    return {
        "what": what,
        "rule": "highest mean J over the development sequences and the seeds (declared before the runs)",
        "created_at": datetime.now(timezone.utc).isoformat(),
        "sequences": seqs, "seeds": [r["seed"] for r in runs], "parent": runs[0]["parent"],
        "frame_stride": runs[0]["frame_stride"], "max_side": runs[0]["max_side"],
        "runs": [str(r.get("_path")) for r in runs],
        "candidates": cands,
        "choice": {"label": best["label"], "options": best["options"], "J_mean": best["J_mean"]},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("runs", type=Path, nargs="+")
    ap.add_argument("--what", default="OSVOS settings chosen on the DAVIS-2016 video development sequences over several seeds")
    a = ap.parse_args()
    runs = []
    for p in a.runs:
        d = json.loads(p.read_text())
        d["_path"] = p
        runs.append(d)
    doc = combine(runs, a.what)
    a.out.write_text(json.dumps(doc, indent=1))
    for c in doc["candidates"]:
        print(f"{c['label']:<62} J {c['J_mean']:.4f}  " + "  ".join(f"seed{s} {v:.4f}" for s, v in c["J_mean_by_seed"].items()))
    print(f"chosen: {doc['choice']['label']} (J {doc['choice']['J_mean']:.4f}); wrote {a.out}")


if __name__ == "__main__":
    main()
