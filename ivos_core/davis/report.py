"""A DAVIS evaluation's results: :class:`DavisEvalResult` (the three tables and the summary next
to the paper's numbers), :func:`write_davis_outputs` (the run's files, atomically) and
:func:`summary_rows` (the summary flattened for printing)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ivos_core.davis.config import PAPER_FIG5, PAPER_TABLE3, DavisEvalConfig
from ivos_core.davis.figures import plot_fig5, plot_table3
from ivos_core.davis.sequence import STAT_KEYS, SequenceResult, _clean, sequence_columns
from ivos_core.utils import atomic_write

__all__ = ["DavisEvalResult", "summary_rows", "write_davis_outputs"]


def _mean(ok: Any, col: str) -> tuple[float | None, int]:
    """Mean and count of a column's values over the successful sequences (None when none)."""
    if col not in ok:
        return None, 0
    v = ok[col].dropna()
    return (float(v.mean()) if len(v) else None), int(len(v))


def _mean_gain(ok: Any, col: str, base: str) -> float | None:
    """Mean of ``col - base`` over sequences with both."""
    sub = ok[[col, base]].dropna()
    return float((sub.iloc[:, 0] - sub.iloc[:, 1]).mean()) if len(sub) else None


def _fig5_summary(cfg: DavisEvalConfig, ok: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per Fig. 5 setting: mean J next to the paper's; and the DAVIS J/F statistics."""
    fig5: dict[str, Any] = {}
    davis: dict[str, Any] = {}
    for s in cfg.init_settings():
        m, n = _mean(ok, f"J_mean[{s}]")
        fig5[s] = {"mean_iou": m, "n": n, "paper": PAPER_FIG5.get(s), "init_iou": _mean(ok, f"init_iou[{s}]")[0]}
        davis[s] = {k: _mean(ok, f"{k}[{s}]")[0] for k in STAT_KEYS}
        j, fm = davis[s]["J_mean"], davis[s]["F_mean"]
        davis[s]["JF_mean"] = None if j is None or fm is None else (j + fm) / 2
    return fig5, davis


def _table3_summary(cfg: DavisEvalConfig, ok: Any) -> dict[str, Any]:
    """Worst-frame IoU before, and after k clicks per method, with gains and the paper's values."""
    before, nb = _mean(ok, "worst_iou")
    t3: dict[str, Any] = {"before": {"mean_iou": before, "n": nb, "paper": PAPER_TABLE3["before"]}, "methods": {}}
    for meth in cfg.correction_methods:
        entry = {}
        for k in cfg.correction_clicks:
            m, n = _mean(ok, f"refine_iou[{meth}@{k}]")
            paper = PAPER_TABLE3.get(meth, {}).get(k)
            entry[str(k)] = {
                "mean_iou": m, "gain": _mean_gain(ok, f"refine_iou[{meth}@{k}]", "worst_iou"), "n": n, "paper": paper,
                "paper_gain": None if paper is None else round(paper - PAPER_TABLE3["before"], 4),
            }
        t3["methods"][meth] = entry
    return t3


def _frames_summary(cfg: DavisEvalConfig, corrections: Any) -> dict[str, Any]:
    """Over every corrected frame (the ``correction_frames`` worst of each sequence): mean IoU
    before and after k clicks per method, with the per-frame gains (for paired comparisons)."""
    if cfg.correction_frames == 1 or corrections.empty:
        return {}
    out: dict[str, Any] = {"frames_per_sequence": cfg.correction_frames, "methods": {}}
    base = corrections[corrections["clicks"] == 0].drop_duplicates(["sequence", "frame"]).set_index(["sequence", "frame"])["iou"]
    out["before"] = {"mean_iou": float(base.mean()), "n": int(len(base))}
    for (meth, k), grp in corrections[corrections["clicks"] > 0].groupby(["method", "clicks"]):
        if k not in cfg.correction_clicks:
            continue
        after = grp.set_index(["sequence", "frame"])["iou"]
        gain = (after - base.reindex(after.index)).dropna()
        out["methods"].setdefault(meth, {})[str(int(k))] = {
            "mean_iou": float(after.mean()), "gain": float(gain.mean()), "n": int(len(gain)),
            "gains": {f"{s}:{f}": round(float(g), 6) for (s, f), g in gain.items()},
        }
    return out


def _progressive_summary(cfg: DavisEvalConfig, ok: Any) -> dict[str, Any]:
    """J mean after re-propagation per method and clicks, and its gain over the GT-initialised run."""
    prog = {}
    for meth in cfg.correction_methods:
        for k in cfg.progressive_clicks:
            m, n = _mean(ok, f"progressive_J_mean[{meth}@{k}]")
            gain = _mean_gain(ok, f"progressive_J_mean[{meth}@{k}]", "J_mean[gt]")
            prog[f"{meth}@{k}"] = {"J_mean": m, "gain_vs_gt_init": gain, "n": n}
    return prog


@dataclass
class DavisEvalResult:
    """All sequences of one evaluation, plus what could not run and why."""

    config: DavisEvalConfig
    sequences: list[SequenceResult]
    unavailable: dict[str, str] = field(default_factory=dict)
    root: str = ""
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    seconds: float = 0.0

    @property
    def dataset(self) -> str:
        return f"davis{self.config.year}"

    def per_sequence(self):
        import pandas as pd

        cols = sequence_columns(self.config)
        df = pd.DataFrame([s.row for s in self.sequences], columns=cols)
        for c in cols:
            if c not in ("sequence", "status", "reason"):
                df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
        return df

    def per_frame(self):
        import pandas as pd

        cols = ["sequence", "frame", "setting", "iou", "boundary_f", "evaluated"]
        return pd.DataFrame([r for s in self.sequences for r in s.frame_rows], columns=cols)

    def corrections(self):
        import pandas as pd

        cols = ["sequence", "frame", "rank", "method", "clicks", "iou"]
        return pd.DataFrame([r for s in self.sequences for r in s.correction_rows], columns=cols)

    def summary(self) -> dict[str, Any]:
        """Means per setting next to the paper's numbers (fractions, not percent)."""
        cfg = self.config
        df = self.per_sequence()
        ok = df[df["status"] == "ok"]
        fig5, davis = _fig5_summary(cfg, ok)
        skipped: dict[str, str] = {}
        for s in self.sequences:
            skipped.update(s.skipped)
        failed = [{"sequence": s.sequence, "reason": s.reason} for s in self.sequences if s.status != "ok"]
        out = {
            "dataset": self.dataset, "method": "osvos", "items": "per_sequence.parquet", "split": cfg.split,
            "root": self.root, "created_at": self.created_at, "seed": cfg.seed,
            "metric": "J mean per sequence (first and last evaluated frame excluded), averaged over sequences",
            "n_sequences": len(self.sequences), "n_ok": int(len(ok)), "n_failed": len(failed), "failed": failed,
            "unavailable": dict(self.unavailable), "skipped_settings": skipped,
            "fig5": fig5, "table3": _table3_summary(cfg, ok), "progressive": _progressive_summary(cfg, ok),
            "table3_frames": _frames_summary(cfg, self.corrections()),
            "davis": davis,
            "J_mean": _mean(ok, "J_mean[gt]")[0],
            "F_mean": _mean(ok, "F_mean")[0],
            "consecutive_iou_mean": _mean(ok, "consecutive_iou_mean")[0],
            "paper": {"fig5": PAPER_FIG5, "table3": {k: v for k, v in PAPER_TABLE3.items()}},
            "config": cfg.to_dict(), "config_fingerprint": cfg.fingerprint(),
            "seconds": round(self.seconds, 2), "seconds_per_sequence": _mean(ok, "seconds")[0],
        }
        return _clean(out)


def write_davis_outputs(result: DavisEvalResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``summary.json``, ``per_sequence.parquet`` (+ ``.csv``), ``per_frame.parquet``,
    ``corrections.parquet``, ``fig5_osvos_init.png`` and ``table3_corrections.png`` atomically
    (the summary last, so its presence means the run's files are complete)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "summary": out / "summary.json",
        "per_sequence": out / "per_sequence.parquet",
        "per_sequence_csv": out / "per_sequence.csv",
        "per_frame": out / "per_frame.parquet",
        "corrections": out / "corrections.parquet",
        "fig5": out / "fig5_osvos_init.png",
        "table3": out / "table3_corrections.png",
    }
    summary = result.summary()
    per_seq = result.per_sequence()
    atomic_write(paths["per_sequence"], lambda p: per_seq.to_parquet(p, index=False))
    atomic_write(paths["per_sequence_csv"], lambda p: per_seq.to_csv(p, index=False))
    atomic_write(paths["per_frame"], lambda p: result.per_frame().to_parquet(p, index=False))
    atomic_write(paths["corrections"], lambda p: result.corrections().to_parquet(p, index=False))
    atomic_write(paths["fig5"], lambda p: plot_fig5(summary, p))
    atomic_write(paths["table3"], lambda p: plot_table3(summary, p))
    summary["files"] = {k: p.name for k, p in paths.items() if k != "summary"}
    atomic_write(paths["summary"], json.dumps(summary, indent=2))
    return paths


def summary_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Flatten a summary for printing: one row per Fig. 5 setting and Table 3 entry."""
    rows: list[dict[str, Any]] = []
    for s, v in summary.get("fig5", {}).items():
        d = summary.get("davis", {}).get(s, {})
        rows.append({"table": "fig5", "setting": f"OSVOS from {s}", "ours": v.get("mean_iou"),
                     "F": d.get("F_mean"), "paper": v.get("paper"), "n": v.get("n")})
    t3 = summary.get("table3", {})
    b = t3.get("before", {})
    rows.append({"table": "table3", "setting": "OSVOS worst frame", "ours": b.get("mean_iou"), "F": None,
                 "paper": b.get("paper"), "n": b.get("n")})
    for m, entry in t3.get("methods", {}).items():
        for k, v in entry.items():
            rows.append({"table": "table3", "setting": f"{m} {k} click(s)", "ours": v.get("mean_iou"), "F": None,
                         "paper": v.get("paper"), "n": v.get("n")})
    for s, v in summary.get("progressive", {}).items():
        rows.append({"table": "progressive", "setting": f"re-propagated after {s}", "ours": v.get("J_mean"),
                     "F": None, "paper": None, "n": v.get("n")})
    return rows
