"""The robot user and the ONE robot loop that every click-driven protocol runs.

* :class:`RobotUser`: the NoC robot of the standard protocol (RITM, iFCN, the paper's §3.1):
  each next click at the interior-most pixel of the current errors.
* :func:`robot_loop`: show the user the current mask, take its next inputs, run the method on
  *all* inputs so far and the previous mask, record mask and IoU, repeat. The NoC evaluation
  (:func:`ivos_core.evaluation.evaluate_sample`), the DAVIS protocols
  (:mod:`ivos_core.davis.sequence`) and the behaviour-simulated users
  (:mod:`ivos_core.users.annotator`, whose user is a noisy, multi-input robot) all call it.
  (``ivos_core.jobs.sessions.robot_session`` still has its own model-free loop: the jobs room
  is being changed elsewhere.)

Masks are ``(H, W)`` bool; ``ignore`` pixels (e.g. the GrabCut 128 band, DAVIS void) are never
clicked and never count, neither as an error nor in the IoU.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import cv2
import numpy as np

from ivos_core.interactions import Click
from ivos_core.metrics import iou
from ivos_core.protocols import UserInput
from ivos_core.utils import as_bool_mask

__all__ = ["NextInputs", "PredictFn", "RobotRun", "RobotUser", "error_masks", "robot_loop", "robot_user"]

PredictFn = Callable[[list[UserInput], "np.ndarray | None"], np.ndarray]
"""``predict(all inputs so far, previous mask or None) -> (H, W) mask`` (a method's ``predict``)."""

NextInputs = Callable[[np.ndarray], Sequence[UserInput]]
"""``user(current mask) -> this step's inputs``; empty when the user sees nothing to fix."""


def error_masks(
    gt: np.ndarray, pred: np.ndarray, ignore: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(fn, fp)`` bool masks: missed object pixels and wrongly included background pixels."""
    g = as_bool_mask(gt, "gt")
    p = as_bool_mask(pred, "pred", g.shape)
    valid = ~as_bool_mask(ignore, "ignore", g.shape) if ignore is not None else np.ones_like(g)
    return g & ~p & valid, ~g & p & valid


class RobotUser:
    """The NoC robot: each click at the pixel farthest inside the current errors.

    ``gt`` and ``ignore`` are bool ``(H, W)``; ``ignore`` (e.g. the GrabCut 128 band) is never
    clicked and never counts as an error. :meth:`next_click` reads the current prediction and
    returns the click a careful user would make, or ``None`` when nothing is wrong. Follows RITM's
    ``Clicker``: distance transforms (``cv2.DIST_L2``, 5x5 mask) of the false-negative and
    false-positive masks padded with a 1-pixel empty border, so the image edge counts as a
    boundary; already-clicked pixels score 0 so no pixel is clicked twice; the larger maximum
    wins, a tie goes to the false negatives (a positive click); the argmax is the first maximal
    pixel in row-major order. Deterministic: same inputs, same clicks.
    """

    def __init__(self, gt: np.ndarray, ignore: np.ndarray | None = None) -> None:
        self.gt = as_bool_mask(gt, "gt").copy()
        self.ignore = (
            as_bool_mask(ignore, "ignore", self.gt.shape).copy() if ignore is not None else np.zeros_like(self.gt)
        )
        self.clicks: list[Click] = []
        self._clicked = np.zeros(self.gt.shape, bool)

    @staticmethod
    def _padded_dt(m: np.ndarray) -> np.ndarray:
        padded = np.pad(m.astype(np.uint8), 1)
        return cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]

    def next_click(self, pred: np.ndarray) -> Click | None:
        """The next click for prediction ``pred`` (bool ``(H, W)``), recorded in :attr:`clicks`."""
        fn, fp = error_masks(self.gt, pred, self.ignore)
        fn_dt = self._padded_dt(fn)
        fp_dt = self._padded_dt(fp)
        fn_dt[self._clicked] = 0
        fp_dt[self._clicked] = 0
        fn_max, fp_max = float(fn_dt.max()), float(fp_dt.max())
        if max(fn_max, fp_max) <= 0:
            return None
        positive = fn_max >= fp_max
        dt = fn_dt if positive else fp_dt
        row, col = divmod(int(np.argmax(dt)), dt.shape[1])  # argmax: first maximum, row-major
        self._clicked[row, col] = True
        click = Click(x=float(col), y=float(row), positive=bool(positive))
        self.clicks.append(click)
        return click

    def reset(self) -> None:
        """Forget the clicks (start a new NoC run on the same object)."""
        self.clicks = []
        self._clicked[:] = False


def robot_user(gt: np.ndarray, ignore: np.ndarray | None = None) -> NextInputs:
    """The NoC robot as a loop's user: one :class:`RobotUser` click per step, none when done."""
    robot = RobotUser(gt, ignore)

    def next_inputs(mask: np.ndarray) -> list[UserInput]:
        click = robot.next_click(mask)
        return [] if click is None else [click]

    return next_inputs


@dataclass
class RobotRun:
    """What a :func:`robot_loop` did, filled in as it goes (so it is readable after predict raised).

    ``steps``: each step's inputs; ``masks`` / ``ious`` / ``seconds``: the mask, its IoU with the
    ground truth (``ignore`` excluded) and predict's wall time after each step (``masks`` padded to
    ``max_steps`` with ``pad``); ``mask``: the mask the user looks at now; ``stopped``: the loop
    ended early (nothing left to fix, or ``stop`` said so).
    """

    steps: list[list[UserInput]] = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list)
    ious: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    mask: np.ndarray | None = None
    stopped: bool = False

    @property
    def inputs(self) -> list[UserInput]:
        """All inputs so far, oldest first (a fresh list)."""
        return [inp for step in self.steps for inp in step]


def robot_loop(
    predict: PredictFn,
    gt: np.ndarray,
    ignore: np.ndarray | None = None,
    *,
    start: np.ndarray | None = None,
    max_steps: int = 20,
    stop: Callable[[float], bool] | None = None,
    pad: bool = False,
    user: NextInputs | None = None,
    run: RobotRun | None = None,
) -> RobotRun:
    """Up to ``max_steps`` steps of: ``user(current mask)`` -> inputs (none: stop), then
    ``predict(all inputs so far, previous mask)`` -> the new mask and its IoU.

    ``start``: the mask before the first step; predict's first previous mask (``None``: the user
    sees an empty mask and predict gets ``None``). ``user``: default the NoC robot
    (:func:`robot_user` on ``gt``, ``ignore``). ``stop(IoU)`` True ends the loop after a step.
    ``pad``: fill ``masks`` up to ``max_steps`` with the last mask (it stays when the user stops).
    ``run``: the record to fill (pass one to read it when predict raises).
    """
    user = robot_user(gt, ignore) if user is None else user
    run = RobotRun() if run is None else run
    run.mask = np.zeros(np.shape(gt), bool) if start is None else np.asarray(start, bool)
    prev = None if start is None else run.mask
    for _ in range(max_steps):
        new = list(user(run.mask))
        if not new:
            run.stopped = True
            break
        run.steps.append(new)
        t0 = time.perf_counter()
        run.mask = prev = np.asarray(predict(run.inputs, prev), bool)
        run.seconds.append(time.perf_counter() - t0)
        run.masks.append(run.mask)
        run.ious.append(iou(run.mask, gt, ignore))
        if stop is not None and stop(run.ious[-1]):
            run.stopped = True
            break
    if pad:
        run.masks += [run.mask] * (max_steps - len(run.masks))
    return run
