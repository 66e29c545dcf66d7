"""The interactive evaluation protocol (NoC@t, mIoU@k) with pluggable methods.

The loop is the standard robot-user protocol (RITM, iFCN, the paper's §3.1), the one
:func:`ivos_core.robot.robot_loop`: start from an empty mask, let
:class:`~ivos_core.robot.RobotUser` place the next click at the interior-most point of the
largest error, run the method on *all* clicks so far and the previous mask, record IoU (ignore
band excluded), repeat up to ``max_clicks``. Every method sees the same clicks for the same
predictions, so methods compare fairly.

Methods are plugins: anything with ``name``, ``set_image(image)`` and
``predict(inputs, prev_mask) -> bool mask`` (:class:`ivos_core.protocols.InteractiveMethod`,
re-exported here as :data:`InteractiveMethod`).

Honest bookkeeping (issue 12):

* an image on which the METHOD fails (raises, or returns a mask of the wrong shape) is a *failed
  item*: it counts at the click cap (IoU 0 after every click) and is listed in ``failed_items``
  with its error. Dropping it would let two methods be averaged over different images and reward
  a method for crashing on the hard ones. Only DATA problems (an unreadable file, an empty object
  mask) are ``skipped``: they are the same for every method.
* ``summary.json`` records ``dataset``, ``split``, ``role`` (:func:`ivos_core.splits.role_of`:
  test / development / training) and the ``command`` and ``parameters`` that made it, so a number
  can be traced to the set it was measured on.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ivos_core.metrics import miou_curve, noc
from ivos_core.protocols import InteractiveMethod, ProgressFn, UserInput
from ivos_core.robot import RobotRun, robot_loop, robot_user
from ivos_core.splits import role_of

DEFAULT_THRESHOLDS: tuple[float, ...] = (0.85, 0.9)


class EmptyObjectError(ValueError):
    """The ground truth has no object outside the ignore band: a data problem (sample skipped)."""


class MethodFailure(RuntimeError):
    """The method raised or returned a wrong-shaped mask during the robot loop on one image.

    ``clicks`` / ``ious`` are what the loop had recorded before the failure (kept for the record;
    the item still counts at the click cap). The original exception is ``__cause__`` when any.
    """

    def __init__(self, message: str, clicks: list[tuple[int, int, bool]], ious: list[float]) -> None:
        super().__init__(message)
        self.clicks = clicks
        self.ious = ious


@dataclass
class SampleResult:
    sample_id: str
    height: int
    width: int
    clicks: list[tuple[int, int, bool]]
    ious: list[float]
    seconds: list[float]
    stopped_early: bool
    error: str | None = None  # set on a failed item: NoC = cap, IoU 0 after every click

    @property
    def failed(self) -> bool:
        return self.error is not None

    def clicks_to(self, threshold: float, max_clicks: int) -> int:
        from ivos_core.metrics import clicks_to_reach

        if self.failed or not self.ious:
            return max_clicks
        return clicks_to_reach(self.ious, threshold, max_clicks)

    def row(self, max_clicks: int = 20) -> dict[str, Any]:
        return {
            "sample_id": self.sample_id,
            "item": self.sample_id,  # the analytics store's item column
            "noc@85": self.clicks_to(0.85, max_clicks),
            "noc@90": self.clicks_to(0.9, max_clicks),
            "iou@1": 0.0 if self.failed else (self.ious[0] if self.ious else float("nan")),
            "height": self.height,
            "width": self.width,
            "n_clicks": len(self.clicks),
            "click_x": [c[0] for c in self.clicks],
            "click_y": [c[1] for c in self.clicks],
            "click_positive": [c[2] for c in self.clicks],
            "ious": self.ious,
            "seconds": self.seconds,
            "final_iou": 0.0 if self.failed else (self.ious[-1] if self.ious else float("nan")),
            "stopped_early": self.stopped_early,
            "failed": self.failed,
            "error": self.error or "",
        }


@dataclass
class EvalResult:
    dataset: str
    method: str
    max_clicks: int
    thresholds: tuple[float, ...]
    samples: list[SampleResult] = field(default_factory=list)  # failed items included
    skipped: list[tuple[str, str]] = field(default_factory=list)  # data problems: (path or id, reason)
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    split: str | None = None
    command: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def failed_items(self) -> list[SampleResult]:
        return [s for s in self.samples if s.failed]

    def summary(self) -> dict[str, Any]:
        # a failed item's IoU is 0 after every click: it never reaches a threshold (NoC = cap)
        per = [[0.0] if s.failed else s.ious for s in self.samples]
        split = self.split
        if split is None:
            split = (self.extra.get("dataset_options") or {}).get("split")
        out: dict[str, Any] = {
            "dataset": self.dataset,
            "split": split,
            "role": role_of(self.dataset, split),
            "method": self.method,
            "n": len(self.samples),
            "n_failed_items": len(self.failed_items),
            "failed_items": [
                {"item": s.sample_id, "error": s.error, "clicks_done": len(s.ious)} for s in self.failed_items
            ],
            "n_skipped": len(self.skipped),
            "skipped": [{"item": a, "reason": b} for a, b in self.skipped],
            "max_clicks": self.max_clicks,
            "seed": self.seed,
            "command": self.command,
            "parameters": dict(self.parameters),
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

    Raises :class:`EmptyObjectError` (a data problem) when there is no object, and
    :class:`MethodFailure` when the method raises or returns a wrong-shaped mask.
    """
    gt = np.asarray(gt, dtype=bool)
    if not np.any(gt & ~ignore if ignore is not None else gt):
        # NoC is undefined without an object: the robot has nothing to click
        raise EmptyObjectError("empty object mask (no foreground outside the ignore band): nothing to segment")
    user = robot_user(gt, ignore)
    run = RobotRun()

    def failure(msg: str) -> MethodFailure:
        return MethodFailure(msg, _click_tuples(run.inputs), list(run.ious))

    def predict(clicks: list[UserInput], prev: np.ndarray | None) -> np.ndarray:
        try:
            out = method.predict(clicks, prev)
        except Exception as exc:
            raise failure(f"predict (click {len(clicks)}): {type(exc).__name__}: {exc}") from exc
        out = np.asarray(out, dtype=bool)
        if out.shape != gt.shape:
            raise failure(
                f"method {method.name!r} returned a mask of shape {out.shape} for an image of "
                f"shape {gt.shape}; methods must predict at the image's own size"
            )
        return out

    try:
        method.set_image(image)
    except Exception as exc:
        raise failure(f"set_image: {type(exc).__name__}: {exc}") from exc
    stop = None if stop_at is None else (lambda v: v >= stop_at)
    robot_loop(predict, gt, ignore, start=np.zeros_like(gt), max_steps=max_clicks, stop=stop, user=user, run=run)
    return SampleResult(
        sample_id=sample_id,
        height=int(gt.shape[0]),
        width=int(gt.shape[1]),
        clicks=_click_tuples(run.inputs),
        ious=[float(v) for v in run.ious],
        seconds=run.seconds,
        stopped_early=run.stopped,
    )


def _click_tuples(clicks: Sequence[UserInput]) -> list[tuple[int, int, bool]]:
    return [(int(c.x), int(c.y), bool(c.positive)) for c in clicks]


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
    split: str | None = None,
    command: str | None = None,
) -> EvalResult:
    """Evaluate ``method`` on every sample of ``dataset`` (an ``ivos_core.data`` dataset).

    A sample that fails to load, or has no object, is recorded in ``skipped`` (a data problem,
    the same for every method). A sample on which the method raises (or returns a wrong-shaped
    mask) is a failed item: it counts at the click cap and is listed in the summary's
    ``failed_items``. Either way the rest of the evaluation completes.

    ``split`` defaults to the dataset's ``split`` attribute; ``command`` to ``sys.argv`` joined
    (the CLI's command line); both go into the summary with the call's parameters.
    """
    from ivos_core.data import SampleError

    _seed_everything(seed)
    ids = list(dataset.ids())
    if limit is not None:
        ids = ids[:limit]
    name = dataset_name or type(dataset).__name__
    result = EvalResult(
        dataset=name,
        method=method.name,
        max_clicks=max_clicks,
        thresholds=tuple(thresholds),
        seed=seed,
        split=split if split is not None else getattr(dataset, "split", None),
        command=command if command is not None else shlex.join(sys.argv),
        parameters={
            "dataset": name,
            "method": method.name,
            "max_clicks": max_clicks,
            "thresholds": list(thresholds),
            "limit": limit,
            "seed": seed,
            "stop_at": stop_at,
        },
    )
    for i, sid in enumerate(ids):
        try:
            sample = dataset.load(sid)
        except SampleError as exc:
            result.skipped.append((str(getattr(exc, "path", sid)), str(getattr(exc, "reason", exc))))
        else:
            _evaluate_loaded(result, method, sample, max_clicks=max_clicks, stop_at=stop_at)
        if progress is not None:
            progress(i + 1, len(ids), sid)
    return result


def _evaluate_loaded(
    result: EvalResult, method: InteractiveMethod, sample: Any, *, max_clicks: int, stop_at: float | None
) -> None:
    """One loaded sample into ``result``: a sample, a skip (no object: a data problem, the same for
    every method) or a failed item (the method failed: counted at the cap, listed, carry on)."""
    try:
        result.samples.append(
            evaluate_sample(
                method, sample.image, sample.mask, sample.ignore,
                sample_id=sample.sample_id, max_clicks=max_clicks, stop_at=stop_at,
            )
        )
    except EmptyObjectError as exc:
        result.skipped.append((str(sample.source), str(exc)))
    except Exception as exc:
        clicks = getattr(exc, "clicks", [])
        h, w = np.asarray(sample.mask).shape[:2]
        result.samples.append(
            SampleResult(
                sample_id=sample.sample_id, height=int(h), width=int(w), clicks=list(clicks),
                ious=list(getattr(exc, "ious", [])), seconds=[], stopped_early=False,
                error=str(exc) if isinstance(exc, MethodFailure) else f"{type(exc).__name__}: {exc}",
            )
        )


def _seed_everything(seed: int) -> None:
    import cv2

    cv2.setRNGSeed(seed)
    np.random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


from ivos_core.eval_report import plot_miou_curves, summary_table, write_eval_outputs  # noqa: E402

__all__ = [
    "EmptyObjectError",
    "InteractiveMethod",
    "MethodFailure",
    "SampleResult",
    "EvalResult",
    "evaluate_sample",
    "evaluate_interactive",
    "write_eval_outputs",
    "plot_miou_curves",
    "summary_table",
]
