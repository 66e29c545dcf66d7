"""Presenting an evaluation: its files, the mIoU-vs-clicks figure and the printed NoC table.

Split out of :mod:`ivos_core.evaluation` (which re-exports all three) to keep that module about
the protocol itself; nothing here computes a metric.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from ivos_core.utils import atomic_write

if TYPE_CHECKING:
    from ivos_core.evaluation import EvalResult

__all__ = ["plot_miou_curves", "summary_table", "write_eval_outputs"]


def write_eval_outputs(result: EvalResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``summary.json``, ``per_image.parquet`` (+ CSV) and ``miou_curve.png``.

    Files are written to temporary names and renamed, so a reader never sees half a summary.
    """
    import pandas as pd

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = result.summary()
    paths = {
        "summary": out / "summary.json",
        "per_image": out / "per_image.parquet",
        "per_image_csv": out / "per_image.csv",
        "figure": out / "miou_curve.png",
    }
    df = pd.DataFrame(result.rows())
    if df.empty:
        df = pd.DataFrame(columns=["sample_id", "ious", "final_iou"])
    atomic_write(paths["per_image"], lambda p: df.to_parquet(p, index=False))
    csv_df = df.copy()
    for col in ("click_x", "click_y", "click_positive", "ious", "seconds"):
        if col in csv_df:
            csv_df[col] = csv_df[col].map(lambda v: json.dumps([_jsonable(x) for x in v]))
    atomic_write(paths["per_image_csv"], lambda p: csv_df.to_csv(p, index=False))
    atomic_write(paths["figure"], lambda p: plot_miou_curves({result.method: summary}, p, title=result.dataset))
    atomic_write(paths["summary"], json.dumps(summary, indent=2))
    return paths


def _jsonable(x: Any) -> Any:
    if isinstance(x, (np.floating, float)):
        return None if math.isnan(float(x)) else round(float(x), 5)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def plot_miou_curves(summaries: dict[str, dict[str, Any]], path: str | Path, *, title: str = "") -> Path:
    """mIoU after k clicks, one line per method, with the 0.85 / 0.9 thresholds drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for name, summ in summaries.items():
        curve = summ.get("miou_at") or {}
        if not curve:
            continue
        ks = sorted(int(k) for k in curve)
        label = name
        if "0.9" in summ.get("noc", {}):
            label += f" (NoC@90 {summ['noc']['0.9']:.2f})"
        ax.plot(ks, [curve[str(k)] for k in ks], marker="o", ms=3, label=label)
    for t in (0.85, 0.9):
        ax.axhline(t, color="grey", lw=0.6, ls="--")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("number of clicks")
    ax.set_ylabel("mean IoU")
    ax.set_ylim(0, 1)
    ax.set_title(f"mIoU vs clicks{': ' + title if title else ''}")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def summary_table(summaries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flatten summaries into rows for printing (method, n, NoC@85, NoC@90, failed, s/click)."""
    rows = []
    for s in summaries:
        rows.append(
            {
                "dataset": s.get("dataset"),
                "method": s.get("method"),
                "n": s.get("n"),
                "NoC@85": s.get("noc", {}).get("0.85"),
                "NoC@90": s.get("noc", {}).get("0.9"),
                "failed@90": s.get("n_failed", {}).get("0.9"),
                "errors": s.get("n_failed_items", 0),
                "mIoU@1": s.get("miou_at", {}).get("1"),
                "mIoU@5": s.get("miou_at", {}).get("5"),
                "s/click": s.get("seconds_per_click"),
            }
        )
    return rows
