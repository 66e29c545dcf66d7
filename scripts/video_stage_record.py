"""A later stage of the video development selection, recorded against the earlier stage's choice.

A stage that varies one fit setting (e.g. the fine-tuning lr or augmentation strength) re-runs only
the new values; the shipped value's J per sequence and seed comes from the earlier record, which
one-thread runs reproduce exactly (hockey seed 0: 0.839 both times). This writes the combined
records of the new values (``scripts/combine_video_seeds.py`` output) together with that baseline,
a paired comparison of each new value against it (per sequence, mean over seeds; bootstrap
interval), and the choice by the rule declared before the runs: the highest mean J over the
sequences and seeds (the baseline wins ties).

Usage: python scripts/video_stage_record.py OUT.json --against RECORD --label LABEL [--metric J|JF] \
           --runs COMBINED.json [COMBINED.json ...] --declared TEXT
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ivos_core.paired import paired_comparison  # noqa: E402


def _per_sequence(cand: dict, metric: str = "J") -> dict[str, float]:
    """Mean over seeds per sequence of J, or of J&F = (J + F) / 2 (``metric="JF"``)."""
    by_seed = cand["J_by_seed"]
    if metric == "JF":
        if "F_by_seed" not in cand:
            raise SystemExit(f"{cand['label']} has no F (runs recorded before round 9): --metric JF cannot score it")
        by_seed = {k: {s: (v + cand["F_by_seed"][k][s]) / 2 for s, v in js.items()} for k, js in by_seed.items()}
    seqs = sorted({s for js in by_seed.values() for s in js})
    return {s: float(np.mean([js[s] for js in by_seed.values()])) for s in seqs}


def stage_record(against: dict, label: str, runs: list[dict], declared: str, against_path: str,
                 metric: str = "J") -> dict:
    base = next((c for c in against["candidates"] if c["label"] == label), None)
    if base is None:
        raise SystemExit(f"{label} is not a candidate of the earlier record")
    new = [c for r in runs for c in r["candidates"] if c["label"] != label]  # a run may re-run the baseline
    for r in runs:
        if sorted(r["sequences"]) != sorted(against["sequences"]) or r["seeds"] != against["seeds"]:
            raise SystemExit("the new runs must cover the earlier record's sequences and seeds")
    comparisons = []
    for c in new:
        p = paired_comparison(_per_sequence(base, metric), _per_sequence(c, metric), lower_is_better=False)
        comparisons.append({**p, "metric": metric, "a": label, "b": c["label"]})
    score = "J_mean" if metric == "J" else "JF_mean"
    best = max([base, *new], key=lambda c: (c[score], c is base))
    return {
        "what": runs[0]["what"],
        "rule": f"highest mean {'J' if metric == 'J' else 'J&F'} over the development sequences and the seeds (declared before "
                "the runs); the baseline wins ties",
        "declared_before_the_runs": declared,
        "created_at": datetime.now(timezone.utc).isoformat(),
        "sequences": against["sequences"], "seeds": against["seeds"],
        "parents": against.get("parents"), "fold_sequences": against.get("fold_sequences"),
        "runs": [r.get("_path") for r in runs],
        "against": {**{k: base[k] for k in ("label", "J_mean", "J_by_seed", "F_mean", "F_by_seed", "JF_mean") if k in base},
                    "source": against_path},
        "candidates": [{k: c[k] for k in ("label", "options", "J_by_seed", "J_mean_by_seed", "J_mean", "F_by_seed", "F_mean",
                                          "JF_mean") if k in c} for c in new],
        "paired_vs_shipped": comparisons,
        "choice_after_rule": {"label": best["label"], "J_mean": best["J_mean"],
                              **({"JF_mean": best["JF_mean"]} if "JF_mean" in best else {})},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--against", required=True)
    ap.add_argument("--label", required=True)
    ap.add_argument("--runs", nargs="+", required=True)
    ap.add_argument("--declared", required=True)
    ap.add_argument("--metric", choices=("J", "JF"), default="J", help="the rule's score: mean J or mean J&F")
    a = ap.parse_args()
    runs = []
    for path in a.runs:
        r = json.loads(Path(path).read_text())
        r["_path"] = path
        runs.append(r)
    doc = stage_record(json.loads(Path(a.against).read_text()), a.label, runs, a.declared, a.against, a.metric)
    Path(a.out).write_text(json.dumps(doc, indent=1))
    for p in doc["paired_vs_shipped"]:
        print(f"{p['b']}: {p['mean_b']:.4f} vs {p['mean_a']:.4f}, diff {p['mean_diff']:+.4f} "
              f"[{p['ci'][0]:+.4f}, {p['ci'][1]:+.4f}], {p['wins']} higher / {p['losses']} lower")
    print(f"choice: {doc['choice_after_rule']['label']} ({doc['choice_after_rule']['J_mean']:.4f}); wrote {a.out}")


if __name__ == "__main__":
    main()
