"""Paired per-sequence comparisons of one `ivos eval davis` run (its per_sequence.csv): Fig. 5
(ours@8 against ground truth and GrabCut@8) and Table 3 (one / four correction clicks of ours
against iFCN, GrabCut and the frame before), and optionally (``--previous``) the main columns
(ground-truth, GrabCut and ours J, the worst frame and our corrections) against an earlier run's. Higher is better (win = B higher); 10,000 bootstrap resamples, seed 0.

Usage: python scripts/davis_paired.py RUN_DIR OUT.json [--previous OLD_per_sequence.csv OUT_GT.json --label TEXT]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from ivos_core.paired import paired_comparison

COMPARISONS = [
    ("Fig.5: OSVOS from ours@8 vs ground truth", "J_mean[gt]", "J_mean[ours@8]"),
    ("Fig.5: OSVOS from ours@8 vs GrabCut@8", "J_mean[grabcut@8]", "J_mean[ours@8]"),
    ("Table 3: one click, ours vs GrabCut (box)", "refine_iou[grabcut@1]", "refine_iou[ours@1]"),
    ("Table 3: one click, ours vs iFCN", "refine_iou[ifcn@1]", "refine_iou[ours@1]"),
    ("Table 3: ours one click vs before", "worst_iou", "refine_iou[ours@1]"),
    ("Table 3: four clicks, ours vs GrabCut (box)", "refine_iou[grabcut@4]", "refine_iou[ours@4]"),
    ("Table 3: four clicks, ours vs iFCN", "refine_iou[ifcn@4]", "refine_iou[ours@4]"),
]


#: the columns compared between two runs (``--previous``): this run against the earlier one
ROUND_COLUMNS = ["J_mean[gt]", "J_mean[grabcut@8]", "J_mean[ours@8]", "worst_iou", "refine_iou[ours@1]", "refine_iou[ours@4]"]


def _column(df: pd.DataFrame, col: str) -> dict[str, float]:
    ok = df[df["status"] == "ok"]
    return {str(s): float(v) for s, v in zip(ok["sequence"], ok[col])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--previous", nargs=2, metavar=("OLD_CSV", "OUT_JSON"))
    ap.add_argument("--label", default="this run vs the previous one")
    a = ap.parse_args()
    csv = a.run / "per_sequence.csv"
    df = pd.read_csv(csv)
    rows = []
    for name, col_a, col_b in COMPARISONS:
        if col_a in df and col_b in df:
            rows.append({"name": name, "a": col_a, "b": col_b,
                         **paired_comparison(_column(df, col_a), _column(df, col_b), lower_is_better=False)})
    a.out.write_text(json.dumps({
        "what": "paired per-sequence comparisons on DAVIS-2016 val (test; run once with the dev-chosen settings), "
                "B - A, higher is better (win = B higher); 10,000 bootstrap resamples, seed 0",
        "source": str(csv), "comparisons": rows}, indent=1) + "\n")
    for r in rows:
        print(f"{r['name']:<48} {r['mean_diff']:+.3f} [{r['ci'][0]:+.3f}, {r['ci'][1]:+.3f}]  "
              f"{r['wins']} / {r['ties']} / {r['losses']}")
    if a.previous:
        old = pd.read_csv(a.previous[0])
        comps = {col: paired_comparison(_column(old, col), _column(df, col), lower_is_better=False)
                 for col in ROUND_COLUMNS if col in old and col in df}
        Path(a.previous[1]).write_text(json.dumps({"what": a.label, "a_run": a.previous[0], "b_run": str(csv),
                                                   "comparisons": comps}, indent=1) + "\n")
        for col, r in comps.items():
            print(f"{col:<22} {a.label[:40]}: {r['mean_diff']:+.3f} [{r['ci'][0]:+.3f}, {r['ci'][1]:+.3f}]  "
                  f"{r['wins']} / {r['ties']} / {r['losses']}")


if __name__ == "__main__":
    main()
