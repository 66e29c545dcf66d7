"""The interactive evaluation protocol (NoC@t, mIoU@k) with pluggable methods.

The loop is the standard robot-user protocol (RITM, iFCN, the paper's §3.1): start from an empty
mask, let :class:`~ivos_core.simulation.RobotUser` place the next click at the interior-most
point of the largest error, run the method on *all* clicks so far and the previous mask, record
IoU (ignore band excluded), repeat up to ``max_clicks``. Every method sees the same clicks for the
same predictions, so methods compare fairly.

Methods are plugins: anything with ``name``, ``set_image(image)`` and
``predict(inputs, prev_mask) -> bool mask`` (see :class:`InteractiveMethod`).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol, Sequence, runtime_checkable

import numpy as np

from ivos_core.interactions import Click, Stroke
from ivos_core.metrics import iou, miou_curve, noc
from ivos_core.simulation import RobotUser

DEFAULT_THRESHOLDS: tuple[float, ...] = (0.85, 0.9)


@runtime_checkable
class InteractiveMethod(Protocol):
    """What the protocol needs from a method (GrabCut, our network, iFCN, ...)."""

    name: str

    def set_image(self, image: np.ndarray) -> None:
        """Per-image preparation; ``image`` is (H, W, 3) uint8 RGB."""

    def predict(self, inputs: Sequence[Click | Stroke], prev_mask: np.ndarray | None) -> np.ndarray:
        """All inputs so far + the previous mask -> (H, W) bool mask."""


@dataclass
class SampleResult:
    sample_id: str
    height: int
    width: int
    clicks: list[tuple[int, int, bool]]
    ious: list[float]
    seconds: list[float]
    stopped_early: bool

    def clicks_to(self, threshold: float, max_clicks: int) -> int:
        from ivos_core.metrics import clicks_to_reach

        return clicks_to_reach(self.ious, threshold, max_clicks) if self.ious else max_clicks

    def row(self, max_clicks: int = 20) -> dict[str, Any]:
        return {
            "sample_id": self.sample_id,
            "item": self.sample_id,  # the analytics store's item column
            "noc@85": self.clicks_to(0.85, max_clicks),
            "noc@90": self.clicks_to(0.9, max_clicks),
            "iou@1": self.ious[0] if self.ious else float("nan"),
            "height": self.height,
            "width": self.width,
            "n_clicks": len(self.clicks),
            "click_x": [c[0] for c in self.clicks],
            "click_y": [c[1] for c in self.clicks],
            "click_positive": [c[2] for c in self.clicks],
            "ious": self.ious,
            "seconds": self.seconds,
            "final_iou": self.ious[-1] if self.ious else float("nan"),
            "stopped_early": self.stopped_early,
        }


@dataclass
class EvalResult:
    dataset: str
    method: str
    max_clicks: int
    thresholds: tuple[float, ...]
    samples: list[SampleResult] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path or id, reason)
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        per = [s.ious for s in self.samples]
        out: dict[str, Any] = {
            "dataset": self.dataset,
            "method": self.method,
            "n": len(self.samples),
            "n_skipped": len(self.skipped),
            "skipped": [{"item": a, "reason": b} for a, b in self.skipped],
            "max_clicks": self.max_clicks,
            "seed": self.seed,
        }
        if per:
            out["noc"] = {}
            out["n_failed"] = {}
            for t in self.thresholds:
                r = noc(per, t, max_clicks=self.max_clicks)
                out["noc"][_tkey(t)] = round(float(r.mean), 4)
                out["n_failed"][_tkey(t)] = int(r.n_failed)
            curve = miou_curve(per, max_clicks=self.max_clicks)
            out["miou_at"] = {str(k + 1): round(float(v), 4) for k, v in enumerate(curve)}
            secs = [s for smp in self.samples for s in smp.seconds]
            out["seconds_per_click"] = round(float(np.mean(secs)), 4) if secs else None
            out["n_clicks_total"] = len(secs)
        else:
            out.update(noc={}, n_failed={}, miou_at={}, seconds_per_click=None, n_clicks_total=0)
        out.update(self.extra)
        return out

    def rows(self) -> list[dict[str, Any]]:
        return [s.row(self.max_clicks) for s in self.samples]


def _tkey(t: float) -> str:
    """Summary keys are the thresholds as written in papers: "0.85", "0.9"."""
    return f"{t:g}"


def evaluate_sample(
    method: InteractiveMethod,
    image: np.ndarray,
    gt: np.ndarray,
    ignore: np.ndarray | None = None,
    *,
    sample_id: str = "",
    max_clicks: int = 20,
    stop_at: float | None = None,
) -> SampleResult:
    """Run the robot-user loop on one image; ``stop_at`` ends early once IoU reaches it.

    When the robot has nothing left to fix (prediction equals ground truth outside the ignore
    band) the loop stops: the metrics pad the remaining clicks with the last IoU.
    """
    gt = np.asarray(gt, dtype=bool)
    if not np.any(gt & ~ignore if ignore is not None else gt):
        # NoC is undefined without an object: the robot has nothing to click
        raise ValueError("empty object mask (no foreground outside the ignore band): nothing to segment")
    robot = RobotUser(gt, ignore)
    method.set_image(image)
    pred = np.zeros_like(gt)
    clicks: list[Click] = []
    ious: list[float] = []
    secs: list[float] = []
    stopped = False
    for _ in range(max_clicks):
        click = robot.next_click(pred)
        if click is None:
            stopped = True
            break
        clicks.append(click)
        t0 = time.perf_counter()
        out = method.predict(list(clicks), pred)
        secs.append(time.perf_counter() - t0)
        out = np.asarray(out, dtype=bool)
        if out.shape != gt.shape:
            raise ValueError(
                f"method {method.name!r} returned a mask of shape {out.shape} for an image of "
                f"shape {gt.shape}; methods must predict at the image's own size"
            )
        pred = out
        ious.append(iou(pred, gt, ignore))
        if stop_at is not None and ious[-1] >= stop_at:
            stopped = True
            break
    return SampleResult(
        sample_id=sample_id,
        height=int(gt.shape[0]),
        width=int(gt.shape[1]),
        clicks=[(int(c.x), int(c.y), bool(c.positive)) for c in clicks],
        ious=[float(v) for v in ious],
        seconds=secs,
        stopped_early=stopped,
    )


ProgressFn = Callable[[int, int, str], None]


def evaluate_interactive(
    dataset: Any,
    method: InteractiveMethod,
    *,
    dataset_name: str = "",
    max_clicks: int = 20,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    limit: int | None = None,
    seed: int = 0,
    stop_at: float | None = None,
    progress: ProgressFn | None = None,
) -> EvalResult:
    """Evaluate ``method`` on every sample of ``dataset`` (an ``ivos_core.data`` dataset).

    A sample that fails to load or makes the method raise is recorded in ``skipped`` with its
    path and reason; the rest of the evaluation completes.
    """
    from ivos_core.data import SampleError

    _seed_everything(seed)
    ids = list(dataset.ids())
    if limit is not None:
        ids = ids[:limit]
    result = EvalResult(
        dataset=dataset_name or type(dataset).__name__,
        method=method.name,
        max_clicks=max_clicks,
        thresholds=tuple(thresholds),
        seed=seed,
    )
    for i, sid in enumerate(ids):
        try:
            sample = dataset.load(sid)
        except SampleError as exc:
            result.skipped.append((str(getattr(exc, "path", sid)), str(getattr(exc, "reason", exc))))
        else:
            try:
                result.samples.append(
                    evaluate_sample(
                        method,
                        sample.image,
                        sample.mask,
                        sample.ignore,
                        sample_id=sample.sample_id,
                        max_clicks=max_clicks,
                        stop_at=stop_at,
                    )
                )
            except Exception as exc:  # one bad image must not end a long evaluation
                result.skipped.append((str(sample.source), f"{type(exc).__name__}: {exc}"))
        if progress is not None:
            progress(i + 1, len(ids), sid)
    return result


def _seed_everything(seed: int) -> None:
    import cv2

    cv2.setRNGSeed(seed)
    np.random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


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
    _atomic(paths["per_image"], lambda p: df.to_parquet(p, index=False))
    csv_df = df.copy()
    for col in ("click_x", "click_y", "click_positive", "ious", "seconds"):
        if col in csv_df:
            csv_df[col] = csv_df[col].map(lambda v: json.dumps([_jsonable(x) for x in v]))
    _atomic(paths["per_image_csv"], lambda p: csv_df.to_csv(p, index=False))
    _atomic(paths["figure"], lambda p: plot_miou_curves({result.method: summary}, p, title=result.dataset))
    _atomic(paths["summary"], lambda p: p.write_text(json.dumps(summary, indent=2)))
    return paths


def _jsonable(x: Any) -> Any:
    if isinstance(x, (np.floating, float)):
        return None if math.isnan(float(x)) else round(float(x), 5)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def _atomic(path: Path, write: Callable[[Path], Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    write(tmp)
    tmp.replace(path)


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
                "mIoU@1": s.get("miou_at", {}).get("1"),
                "mIoU@5": s.get("miou_at", {}).get("5"),
                "s/click": s.get("seconds_per_click"),
            }
        )
    return rows


__all__ = [
    "InteractiveMethod",
    "SampleResult",
    "EvalResult",
    "evaluate_sample",
    "evaluate_interactive",
    "write_eval_outputs",
    "plot_miou_curves",
    "summary_table",
]
