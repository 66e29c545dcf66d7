"""The DAVIS evaluation's figures: Fig. 5 (OSVOS by first-frame mask) and Table 3 (worst-frame
correction) drawn from a run's summary, with the paper's stated values for reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ivos_core.davis.config import PAPER_FIG5, PAPER_TABLE3

__all__ = ["plot_fig5", "plot_table3"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_fig5(summary: dict[str, Any], path: str | Path) -> Path:
    """Fig. 5: OSVOS mean IoU vs the first-frame mask's source (lines vs clicks, GT as a level),
    the paper's stated values as stars."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    fig5 = summary.get("fig5", {})
    colours = {"grabcut": "#dd8452", "ours": "#4c72b0"}
    for meth in ("grabcut", "ours"):
        pts = sorted((int(s.split("@")[1]), v["mean_iou"]) for s, v in fig5.items()
                     if s.startswith(meth + "@") and v.get("mean_iou") is not None)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=colours[meth],
                    label=f"OSVOS from {meth} mask")
    gt = fig5.get("gt", {}).get("mean_iou")
    if gt is not None:
        ax.axhline(gt, color="#55a868", lw=1.5, label=f"OSVOS from ground truth ({gt:.3f})")
    ax.scatter([0.3], [PAPER_FIG5["gt"]], marker="*", s=90, color="#55a868", label="paper: GT 0.838")
    ax.scatter([8], [PAPER_FIG5["ours@8"]], marker="*", s=90, color=colours["ours"], label="paper: ours@8 0.806")
    ax.set_xlabel("robot clicks on the first frame")
    ax.set_ylabel("OSVOS mean IoU (J)")
    ax.set_ylim(0, 1)
    ax.set_title(f"Fig. 5: OSVOS by first-frame mask ({summary.get('n_ok', 0)} sequences)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def plot_table3(summary: dict[str, Any], path: str | Path) -> Path:
    """Table 3 as grouped bars: worst-frame IoU before and after k clicks per method; the paper's
    values as black ticks."""
    plt = _pyplot()
    t3 = summary.get("table3", {})
    methods = list(t3.get("methods", {}))
    ks = sorted({int(k) for m in methods for k in t3["methods"][m]})
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    width = 0.8 / max(1, len(methods))
    before = (t3.get("before") or {}).get("mean_iou")
    if before is not None:
        ax.axhline(before, color="grey", ls="--", lw=1, label=f"OSVOS worst frame ({before:.3f})")
    for j, m in enumerate(methods):
        xs = [i + (j - (len(methods) - 1) / 2) * width for i in range(len(ks))]
        vals = [t3["methods"][m][str(k)]["mean_iou"] for k in ks]
        ax.bar(xs, [v if v is not None else 0 for v in vals], width, label=m)
        for x, k in zip(xs, ks):
            p = PAPER_TABLE3.get(m, {}).get(k)
            if p is not None:
                ax.plot([x - width / 2, x + width / 2], [p, p], color="black", lw=2)
    ax.set_xticks(range(len(ks)), [f"{k} click{'s' if k > 1 else ''}" for k in ks])
    ax.set_ylabel("IoU of the corrected worst frame")
    ax.set_ylim(0, 1)
    ax.set_title("Table 3: correcting the worst OSVOS frame (black: paper)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
