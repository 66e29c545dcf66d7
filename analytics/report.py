"""Figures (PNG) and a self-contained HTML report from an analytics database.

Reads through a read-only connection (the store's writer may be elsewhere), runs the named queries
and draws the paper's usage figures: Fig. 7 pattern shares, Fig. 8 / Fig. 9 iteration histograms
with their medians, Fig. 10 consecutive-mask IoU vs OSVOS score with Pearson r and the §4.2 flow
difficulty estimate against the same score (when evaluation
results and sequence statistics exist), daily activity, and evaluation metric bars. The HTML
inlines every image as base64 so it can be mailed or archived as one file; it states where the
data came from (recorded vs simulated sessions, files loaded, records quarantined).
"""

from __future__ import annotations

import base64
import html
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from analytics.queries import run_query  # noqa: E402
from analytics.sqlfiles import read_sql  # noqa: E402
from analytics.store import connect_readonly  # noqa: E402


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _hist(df: pd.DataFrame, title: str, path: Path) -> Path | None:
    if df.empty:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.bar(df["n_iterations"], df["n_frames"], color="#4c72b0", width=0.85)
    med = float(df["median_iterations"].iloc[0])
    ax.axvline(med, color="#c44e52", linestyle="--", label=f"median {med:g}")
    ax.set_xlabel("iterations")
    ax.set_ylabel("frames")
    ax.set_title(f"{title} (n={int(df['total_frames'].iloc[0])})")
    ax.legend()
    return _save(fig, path)


def _patterns(df: pd.DataFrame, path: Path) -> Path | None:
    if df.empty:
        return None
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.bar(df["pattern"], df["share"] * 100, color=["#4c72b0", "#dd8452", "#55a868"][: len(df)])
    for x, (s, n) in enumerate(zip(df["share"], df["n_sessions"])):
        ax.text(x, s * 100, f"{s:.0%}\n({n})", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("% of sessions")
    ax.set_title("Fig. 7: annotation patterns")
    ax.set_ylim(0, max(df["share"]) * 125)
    return _save(fig, path)


def _labelled_scatter(ax: plt.Axes, df: pd.DataFrame, x: str, color: str) -> None:
    """Per-sequence points of ``x`` against the OSVOS score, each named."""
    ax.scatter(df[x], df["score"], s=18, color=color)
    for _, r in df.iterrows():
        ax.annotate(r["sequence"], (r[x], r["score"]), fontsize=6, alpha=0.7)


def _difficulty(df: pd.DataFrame, path: Path) -> Path | None:
    if df.empty:
        return None
    fig, ax = plt.subplots(figsize=(5, 4))
    _labelled_scatter(ax, df, "consecutive_iou_mean", "#4c72b0")
    r_val = df["pearson_r"].iloc[0]
    r_txt = "n/a" if pd.isna(r_val) else f"{r_val:.2f}"
    ax.set_xlabel("mean IoU between consecutive masks")
    ax.set_ylabel("OSVOS score")
    ax.set_title(f"Fig. 10: difficulty (Pearson r = {r_txt}, n = {len(df)})")
    return _save(fig, path)


def _flow_difficulty(df: pd.DataFrame, path: Path) -> Path | None:
    """The §4.2 estimate against OSVOS: the frames-only score and the flow-carried mask IoU."""
    if df.empty:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    panels = (("difficulty", "pearson_r_difficulty", "frames-only flow score (before annotation)"),
              ("consecutive_iou_mean", "pearson_r", "first mask carried along the flow: IoU"))
    for ax, (col, r_col, label) in zip(axes, panels):
        _labelled_scatter(ax, df, col, "#55a868")
        r_val = df[r_col].iloc[0]
        ax.set_title(f"r = {'n/a' if pd.isna(r_val) else f'{r_val:.2f}'} (n = {len(df)})", fontsize=10)
        ax.set_xlabel(label)
        ax.set_ylabel("OSVOS score")
    fig.suptitle("Difficulty estimate (§4.2) vs OSVOS")
    return _save(fig, path)


def _activity(df: pd.DataFrame, path: Path) -> Path | None:
    if df.empty:
        return None
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.plot(pd.to_datetime(df["day"]), df["n_sessions"], label="sessions", color="#4c72b0")
    ax.plot(pd.to_datetime(df["day"]), df["n_active_users"], label="active users", color="#dd8452")
    ax.set_ylabel("per day")
    ax.set_title("Activity")
    ax.legend()
    fig.autofmt_xdate()
    return _save(fig, path)


def _eval_metrics(df: pd.DataFrame, path: Path) -> Path | None:
    if df.empty:
        return None
    piv = df.pivot_table(index="metric", columns="method", values="mean_value")
    fig, ax = plt.subplots(figsize=(7, 3.6))
    piv.plot.bar(ax=ax)
    ax.set_title("Evaluation metrics (latest run per method)")
    return _save(fig, path)


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _table(df: pd.DataFrame, max_rows: int = 40) -> str:
    if df.empty:
        return "<p><em>no data</em></p>"
    more = f"<p><em>{len(df) - max_rows} more rows</em></p>" if len(df) > max_rows else ""
    return df.head(max_rows).to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0) + more


def write_report(db_path: str | Path, out_dir: str | Path) -> Path:
    """Write ``fig*.png`` and ``report.html`` into ``out_dir``; return the HTML path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    con = connect_readonly(db_path)
    try:
        q: Callable[[str], pd.DataFrame] = lambda name: run_query(con, name)  # noqa: E731
        data = {name: q(name) for name in (
            "annotation_pattern", "first_frame_iterations", "refinement_iterations", "refine_share",
            "osvos_difficulty", "daily_activity", "model_comparison", "eval_metrics",
        )}
        data["flow_difficulty"] = run_query(con, "osvos_difficulty", {"stats_kind": "flow"})
        provenance, files, reasons = (con.execute(read_sql(f"report/{name}.sql")).df()
                                      for name in ("provenance", "loaded_files", "quarantine_reasons"))
    finally:
        con.close()
    figs: list[tuple[str, Path | None, pd.DataFrame]] = [
        ("Fig. 7 — annotation patterns", _patterns(data["annotation_pattern"], out / "fig7_patterns.png"),
         data["annotation_pattern"]),
        ("Fig. 8 — iterations on the first frame",
         _hist(data["first_frame_iterations"], "Fig. 8: first-frame iterations", out / "fig8_first_frame.png"),
         data["first_frame_iterations"]),
        ("Fig. 9 — iterations per refined frame",
         _hist(data["refinement_iterations"], "Fig. 9: refinement iterations", out / "fig9_refinement.png"),
         data["refinement_iterations"]),
        ("Share of sessions refining a frame (paper: 15%)", None, data["refine_share"]),
        ("Fig. 10 — consecutive-mask IoU vs OSVOS score",
         _difficulty(data["osvos_difficulty"], out / "fig10_difficulty.png"), data["osvos_difficulty"]),
        ("Difficulty estimate (§4.2): optical flow, computable before segmentation",
         _flow_difficulty(data["flow_difficulty"], out / "fig10b_flow_difficulty.png"), data["flow_difficulty"]),
        ("Activity per day", _activity(data["daily_activity"], out / "activity.png"), data["daily_activity"]),
        ("Model versions (job results)", None, data["model_comparison"]),
        ("Evaluation metrics", _eval_metrics(data["eval_metrics"], out / "eval_metrics.png"), data["eval_metrics"]),
    ]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>ivos usage analytics</title>",
        "<style>body{font-family:sans-serif;max-width:1000px;margin:auto}table{border-collapse:collapse;"
        "font-size:12px}td,th{padding:2px 8px;border-bottom:1px solid #ddd}img{max-width:100%}</style>",
        "</head><body><h1>ivos usage analytics</h1>",
        f"<p>database: <code>{html.escape(str(db_path))}</code>; generated "
        f"{datetime.now(timezone.utc).isoformat(timespec='seconds')}</p>",
        "<h2>Provenance</h2><p>Sessions by source (recorded by users vs simulated):</p>", _table(provenance),
        "<p>Files loaded:</p>", _table(files), "<p>Quarantine reasons:</p>", _table(reasons),
    ]
    for title, img, df in figs:
        parts.append(f"<h2>{html.escape(title)}</h2>")
        if img is not None:
            parts.append(_img(img))
        parts.append(_table(df))
    parts.append("</body></html>")
    path = out / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
