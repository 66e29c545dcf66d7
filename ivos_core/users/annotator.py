"""One simulated user working on one frame (the behaviour model of :mod:`ivos_core.users`).

:class:`_FrameUser` turns the current mask into an iteration's inputs (clicks at the NoC robot's
spot plus positional noise, correction strokes, a first highlighter scribble), aiming several
inputs of one iteration at different mistakes; :func:`_run_frame` drives it through
:func:`ivos_core.robot.robot_loop` until the user is satisfied or out of patience, with the
session's clock advancing by the user's look, input and wait times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ivos_core.interactions import Click, Interaction, Stroke
from ivos_core.protocols import SegmentFn, UserInput
from ivos_core.robot import RobotUser, robot_loop
from ivos_core.users.profiles import UserProfile
from ivos_core.users.strokes import sample_correction_stroke, simulate_highlight

__all__: list[str] = []  # package-private: used by ivos_core.users.session and .adapters


def _clip_xy(x: float, y: float, w: int, h: int) -> tuple[float, float]:
    return (round(float(np.clip(x, 0, w - 1)), 1), round(float(np.clip(y, 0, h - 1)), 1))


def _footprint(inp: UserInput, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool pixels an input covers: a click's pixel, a stroke's brush path."""
    h, w = shape
    fp = np.zeros((h, w), np.uint8)
    if isinstance(inp, Click):
        fp[int(round(inp.y)), int(round(inp.x))] = 1
        return fp.astype(bool)
    pts = np.array([[int(round(x)), int(round(y))] for x, y in inp.points()], np.int32)
    thick = max(1, int(round(2 * inp.radius)))
    if len(pts) == 1:
        cv2.circle(fp, (int(pts[0, 0]), int(pts[0, 1])), max(1, int(round(inp.radius))), 1, -1)
    else:
        cv2.polylines(fp, [pts.reshape(-1, 1, 2)], False, 1, thickness=thick)
    return fp.astype(bool)


def _assume_fixed(virtual: np.ndarray, gt: np.ndarray, inp: UserInput) -> np.ndarray:
    """``virtual`` with every error component the input touches set to the ground truth.

    Models a user placing several inputs in one iteration: each aims at a different mistake,
    because the one just marked is (in the user's head) already dealt with.
    """
    out = virtual.copy()
    foot = _footprint(inp, gt.shape)
    for err in (gt & ~virtual, ~gt & virtual):
        n, labels = cv2.connectedComponents(err.astype(np.uint8), connectivity=8)
        if n <= 1:
            continue
        hit = np.unique(labels[foot & err])
        hit = hit[hit > 0]
        if len(hit):
            sel = np.isin(labels, hit)
            out[sel] = gt[sel]
    return out


@dataclass
class _Clock:
    """Seconds since session start; every input's ``t`` is strictly later than the previous."""

    t: float = 0.0

    def advance(self, dt: float) -> float:
        self.t = round(self.t + max(float(dt), 0.01), 3)
        return self.t


@dataclass
class _FrameUser:
    """One user working on one frame: turns the current mask into the next iteration's inputs."""

    user: UserProfile
    gt: np.ndarray
    rng: np.random.Generator
    clock: _Clock
    first_frame: bool
    robot: RobotUser = field(init=False)

    def __post_init__(self) -> None:
        self.robot = RobotUser(self.gt)

    def _n_inputs(self) -> int:
        p = np.asarray(self.user.inputs_per_iteration, np.float64)
        return 1 + int(self.rng.choice(len(p), p=p / p.sum()))

    def _timed_stroke(self, s: Stroke, positive: bool) -> Stroke:
        h, w = self.gt.shape
        pts = [_clip_xy(x, y, w, h) for x, y in s.points()]
        dt = 0.4 * self.user.seconds_per_input + s.path_length() / self.user.draw_speed_px_s
        t = self.clock.advance(dt * float(self.rng.lognormal(0.0, 0.2)))
        return Stroke(points=pts, positive=positive, radius=round(float(s.radius), 2), t=t)

    def inputs(self, pred: np.ndarray, iteration: int) -> list[UserInput]:
        """The inputs of the next iteration for current mask ``pred`` (empty: nothing to fix)."""
        h, w = self.gt.shape
        virtual = pred.copy()
        out: list[UserInput] = []
        n = self._n_inputs()
        kind = self.user.kind
        if kind == "highlighter" and self.first_frame and iteration == 0 and not pred.any():
            s = simulate_highlight(self.gt, self.rng)
            out.append(self._timed_stroke(s, True))
            return out  # the scribble is the whole first iteration
        for _ in range(n):
            if kind == "clicker":
                aim = self.robot.next_click(virtual)
                if aim is None:
                    break
                x = aim.x + self.rng.normal(0.0, self.user.click_noise_px)
                y = aim.y + self.rng.normal(0.0, self.user.click_noise_px)
                x, y = _clip_xy(x, y, w, h)
                t = self.clock.advance(self.user.seconds_per_input * float(self.rng.lognormal(0.0, 0.3)))
                out.append(Click(x=x, y=y, positive=aim.positive, t=t))
                virtual = _assume_fixed(virtual, self.gt, aim)
            else:
                s = sample_correction_stroke(
                    self.gt, virtual, self.rng, radius=self.user.stroke_radius, n_points=int(self.rng.integers(3, 9))
                )
                if s is None:
                    break
                out.append(self._timed_stroke(s, s.positive))
                virtual = _assume_fixed(virtual, self.gt, s)
        return out


def _as_mask(m: Any, shape: tuple[int, int], what: str) -> np.ndarray:
    a = np.asarray(getattr(m, "mask", m))
    if a.shape != shape:
        raise ValueError(f"{what} returned a mask of shape {a.shape}, expected {shape}")
    return a.astype(bool)


def _run_frame(
    image: np.ndarray,
    gt: np.ndarray,
    user: UserProfile,
    *,
    segment: SegmentFn,
    start_mask: np.ndarray | None,
    max_iterations: int,
    first_frame: bool,
    rng: np.random.Generator,
    clock: _Clock,
) -> tuple[list[Interaction], list[float], np.ndarray]:
    """Iterate on one frame until satisfied or ``max_iterations``; return iterations, IoUs, mask.

    The robot loop drives it: each iteration starts with a look at the current result, then the
    user's inputs (none: nothing left to fix), the segmenter on all inputs so far and the previous
    mask (``start_mask`` first, None on a first frame), the model's latency; the user is satisfied
    once the IoU, rounded to 4 digits as logged, reaches ``satisfaction_iou``.
    """
    fu = _FrameUser(user=user, gt=gt, rng=rng, clock=clock, first_frame=first_frame)
    looks: list[float] = []  # the clock when each iteration's look began
    ends: list[float] = []  # ... and when its result arrived

    def next_inputs(cur: np.ndarray) -> list[UserInput]:
        looks.append(clock.t)
        clock.advance(user.look_seconds * float(rng.lognormal(0.0, 0.3)))
        return fu.inputs(cur, len(looks) - 1)

    def predict(inputs: list[UserInput], prev: np.ndarray | None) -> np.ndarray:
        mask = _as_mask(segment(image, inputs, prev), gt.shape, "segment")
        ends.append(clock.advance(user.model_latency_s))
        return mask

    run = robot_loop(
        predict, gt, start=start_mask, max_steps=max_iterations, user=next_inputs,
        stop=lambda v: round(v, 4) >= user.satisfaction_iou,
    )
    iterations = [
        Interaction(index=k, inputs=new, duration_s=round(ends[k] - looks[k], 3)) for k, new in enumerate(run.steps)
    ]
    return iterations, [round(v, 4) for v in run.ious], run.mask
