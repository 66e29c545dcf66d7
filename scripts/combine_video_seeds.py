"""Combine `ivos eval video-select` runs of the same grid with different seeds into one selection
file (also runs on different sequences with different parents: the development sequences with the
shipped parent plus a fold of training sequences with a parent trained without them; each
sequence is run with one parent): per candidate its J per sequence and seed, the mean over both, and the choice by the rule
declared before the runs (the highest mean J over sequences and seeds; ties: the earlier, i.e.
cheaper or default, candidate). Fails unless every run holds the same candidates, every seed
covers the same sequences, and every run names a development split.

Runs recorded since round 9 carry the boundary F per sequence too (``F_by_seed``, ``F_mean``,
``JF_mean``); ``--metric JF`` makes the rule the highest mean J&F (the DAVIS measure) instead of J.

Usage: python scripts/combine_video_seeds.py OUT.json RUN_SEED0.json RUN_SEED1.json [...] [--what TEXT] [--metric J|JF]
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np


def _by_seed(runs: list[dict], i: int, key: str) -> dict[str, dict[str, float]]:
    per_seed: dict[str, dict[str, float]] = {}
    for r in runs:
        vals = per_seed.setdefault(str(r["seed"]), {})
        for s, v in r["candidates"][i][key].items():
            if s in vals:
                raise SystemExit(f"sequence {s} appears twice for seed {r['seed']}")
            vals[s] = v
    return per_seed


def combine(runs: list[dict], what: str, metric: str = "J") -> dict:
    labels = [c["label"] for c in runs[0]["candidates"]]
    seqs: list[str] = []
    parents: dict[str, str] = {}
    for r in runs:
        if [c["label"] for c in r["candidates"]] != labels:
            raise SystemExit("the runs do not hold the same candidates")
        if r["split"] != "train":
            raise SystemExit(f"run with split {r['split']!r}: video settings are chosen on the train (development) sequences")
        for s in r["sequences"]:
            if parents.setdefault(s, r["parent"]) != r["parent"]:
                raise SystemExit(f"sequence {s} was run with two parents ({parents[s]}, {r['parent']})")
            if s not in seqs:
                seqs.append(s)
    cands = []
    for i, label in enumerate(labels):
        per_seed = _by_seed(runs, i, "J")
        if any(set(js) != set(seqs) for js in per_seed.values()):
            raise SystemExit("every seed must cover the same sequences")
        j_mean = float(np.mean([v for js in per_seed.values() for v in js.values()]))
        cand = {"label": label, "options": runs[0]["candidates"][i]["options"], "J_by_seed": per_seed,
                "J_mean_by_seed": {s: float(np.mean(list(js.values()))) for s, js in per_seed.items()},
                "J_mean": j_mean}
        if all("F" in r["candidates"][i] for r in runs):  # runs recorded since the F column exists
            f_seed = _by_seed(runs, i, "F")
            cand["F_by_seed"] = f_seed
            cand["F_mean"] = float(np.mean([v for fs in f_seed.values() for v in fs.values()]))
            cand["JF_mean"] = (j_mean + cand["F_mean"]) / 2
        elif metric == "JF":
            raise SystemExit("--metric JF needs runs that recorded F (ivos eval video-select since round 9)")
        cands.append(cand)
    score = "J_mean" if metric == "J" else "JF_mean"
    best = max(cands, key=lambda c: c[score])
    folds = sorted({s for r in runs for s in r.get("fold_sequences", [])})
    return {
        "what": what,
        "rule": f"highest mean {'J' if metric == 'J' else 'J&F'} over the development sequences and the seeds (declared before the runs)",
        "created_at": datetime.now(timezone.utc).isoformat(),
        "sequences": seqs, "seeds": sorted({r["seed"] for r in runs}), "parent": runs[0]["parent"],
        **({"parents": parents, "fold_sequences": folds} if len(set(parents.values())) > 1 or folds else {}),
        "frame_stride": runs[0]["frame_stride"], "max_side": runs[0]["max_side"],
        "runs": [str(r.get("_path")) for r in runs],
        "candidates": cands,
        "choice": {"label": best["label"], "options": best["options"], "J_mean": best["J_mean"],
                   **({"JF_mean": best["JF_mean"]} if "JF_mean" in best else {})},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("runs", type=Path, nargs="+")
    ap.add_argument("--what", default="OSVOS settings chosen on the DAVIS-2016 video development sequences over several seeds")
    ap.add_argument("--metric", choices=("J", "JF"), default="J", help="the rule's score: mean J or mean J&F")
    a = ap.parse_args()
    runs = []
    for p in a.runs:
        d = json.loads(p.read_text())
        d["_path"] = p
        runs.append(d)
    doc = combine(runs, a.what, a.metric)
    a.out.write_text(json.dumps(doc, indent=1))
    for c in doc["candidates"]:
        jf = f"  F {c['F_mean']:.4f}  J&F {c['JF_mean']:.4f}" if "JF_mean" in c else ""
        print(f"{c['label']:<62} J {c['J_mean']:.4f}{jf}  " + "  ".join(f"seed{s} {v:.4f}" for s, v in c["J_mean_by_seed"].items()))
    print(f"chosen: {doc['choice']['label']} (J {doc['choice']['J_mean']:.4f}); wrote {a.out}")


if __name__ == "__main__":
    main()
