"""The one robot loop (ivos_core.robot): same clicks, masks and numbers as the three loops it replaced.

The ``_old_*`` functions are frozen copies of the loops as they were in ``evaluation.evaluate_sample``,
``davis_eval._robot_loop`` and ``behaviour._run_frame`` before they became calls of
:func:`ivos_core.robot.robot_loop`; each test runs old and new on a few synthetic images.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ivos_core.baselines.grabcut import GrabCutClickMethod
from ivos_core.davis.sequence import _robot_loop
from ivos_core.evaluation import evaluate_sample
from ivos_core.interactions import Click, Interaction
from ivos_core.metrics import iou
from ivos_core.robot import RobotRun, RobotUser, robot_loop
from ivos_core.users import UserProfile
from ivos_core.users.annotator import _as_mask, _Clock, _FrameUser, _run_frame


def images() -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """Three noisy two-part objects (an ellipse and a bar), with and without an ignore band."""
    out = []
    for k, (h, w) in enumerate([(48, 64), (60, 50), (40, 72)]):
        rng = np.random.default_rng(k)
        yy, xx = np.mgrid[:h, :w]
        gt = ((yy - h / 2) ** 2 / (h / 3.2) ** 2 + (xx - w / 2.3) ** 2 / (w / 3.5) ** 2) <= 1
        gt |= (yy > h - 12) & (xx > w - 15) & (xx < w - 5)
        img = np.where(gt[..., None], (190, 60, 50), (40, 110, 60)).astype(np.uint8)
        img = np.clip(img + rng.normal(0, 25, img.shape), 0, 255).astype(np.uint8)
        k3 = np.ones((3, 3), np.uint8)
        band = cv2.dilate(gt.astype(np.uint8), k3).astype(bool) & ~cv2.erode(gt.astype(np.uint8), k3).astype(bool)
        out.append((img, gt, None if k == 1 else band))
    return out


class Disk:
    """A cheap deterministic method: the previous mask plus (minus) a disk at the newest input."""

    name = "disk"

    def set_image(self, image: np.ndarray) -> None:
        self.shape = image.shape[:2]

    def predict(self, inputs, prev_mask):
        h, w = self.shape
        yy, xx = np.ogrid[:h, :w]
        m = np.zeros((h, w), bool) if prev_mask is None else prev_mask.copy()
        for c in inputs[-1:]:
            cx, cy = c.points()[0]
            d = (yy - cy) ** 2 + (xx - cx) ** 2 <= 36
            m = m | d if c.positive else m & ~d
        return m


# ---- frozen copies of the old loops ----------------------------------------------------------


def _old_evaluate(method, image, gt, ignore, max_clicks, stop_at):
    robot = RobotUser(gt, ignore)
    pred = np.zeros_like(gt)
    clicks, ious = [], []
    stopped = False
    method.set_image(image)
    for _ in range(max_clicks):
        click = robot.next_click(pred)
        if click is None:
            stopped = True
            break
        clicks.append(click)
        pred = np.asarray(method.predict(list(clicks), pred), dtype=bool)
        ious.append(iou(pred, gt, ignore))
        if stop_at is not None and ious[-1] >= stop_at:
            stopped = True
            break
    return [(int(c.x), int(c.y), bool(c.positive)) for c in clicks], ious, stopped


def _old_davis(predict, gt, start, n_max, void):
    robot = RobotUser(gt, void)
    pred = np.asarray(start, bool)
    clicks, masks = [], []
    for _ in range(n_max):
        c = robot.next_click(pred)
        if c is not None:
            clicks.append(c)
            pred = np.asarray(predict(list(clicks), pred), bool)
        masks.append(pred)
    return masks, clicks


def _old_run_frame(image, gt, user, *, segment, start_mask, max_iterations, first_frame, rng, clock):
    fu = _FrameUser(user=user, gt=gt, rng=rng, clock=clock, first_frame=first_frame)
    prev = start_mask
    cur = np.zeros(gt.shape, bool) if start_mask is None else start_mask.astype(bool)
    given, iterations, ious = [], [], []
    for it in range(max_iterations):
        t_start = clock.t
        clock.advance(user.look_seconds * float(rng.lognormal(0.0, 0.3)))
        new = fu.inputs(cur, it)
        if not new:
            break
        given += new
        cur = _as_mask(segment(image, list(given), prev), gt.shape, "segment")
        t_end = clock.advance(user.model_latency_s)
        iterations.append(Interaction(index=len(iterations), inputs=new, duration_s=round(t_end - t_start, 3)))
        ious.append(round(iou(cur, gt), 4))
        prev = cur
        if ious[-1] >= user.satisfaction_iou:
            break
    return iterations, ious, cur


# ---- old == new ----------------------------------------------------------------------------------


@pytest.mark.parametrize("k", range(3))
@pytest.mark.parametrize("stop_at", [None, 0.9])
def test_evaluation_loop_unchanged(k: int, stop_at: float | None) -> None:
    img, gt, ign = images()[k]
    for make in (Disk, GrabCutClickMethod):
        cv2.setRNGSeed(0)
        old = _old_evaluate(make(), img, gt, ign, 8, stop_at)
        cv2.setRNGSeed(0)
        new = evaluate_sample(make(), img, gt, ign, max_clicks=8, stop_at=stop_at)
        assert (new.clicks, new.ious, new.stopped_early) == old


@pytest.mark.parametrize("k", range(3))
def test_davis_loop_unchanged(k: int) -> None:
    img, gt, void = images()[k]
    for start in (np.zeros_like(gt), np.roll(gt, 5, axis=1), gt):  # empty, shifted, already perfect
        d = Disk()
        d.set_image(img)
        old_masks, old_clicks = _old_davis(d.predict, gt, start, 10, void)
        masks, clicks = _robot_loop(d.predict, gt, start, 10, void)
        assert len(masks) == len(old_masks) == 10
        assert all(np.array_equal(a, b) for a, b in zip(masks, old_masks))
        assert clicks == old_clicks


@pytest.mark.parametrize("kind", ["clicker", "stroker", "highlighter"])
@pytest.mark.parametrize("k", range(3))
def test_behaviour_frame_loop_unchanged(kind: str, k: int) -> None:
    img, gt, _ = images()[k]
    user = UserProfile(user_id="u", kind=kind, inputs_per_iteration=(0.4, 0.3, 0.3), satisfaction_iou=0.9)

    def segment(image, inputs, prev):
        d = Disk()
        d.set_image(image)
        return d.predict(inputs, prev)

    for start in (None, np.roll(gt, 4, axis=0)):
        runs = []
        for fn in (_old_run_frame, _run_frame):
            clock = _Clock()
            its, ious, mask = fn(
                img, gt, user, segment=segment, start_mask=start, max_iterations=6, first_frame=start is None,
                rng=np.random.default_rng(k), clock=clock,
            )
            runs.append(([it.model_dump() for it in its], ious, mask, clock.t))
        (a_its, a_ious, a_mask, a_t), (b_its, b_ious, b_mask, b_t) = runs
        assert a_its == b_its and a_ious == b_ious and a_t == b_t
        assert np.array_equal(a_mask, b_mask)


# ---- the loop's own contract --------------------------------------------------------------------


def test_robot_loop_start_pad_stop_and_partial_record() -> None:
    _, gt, ign = images()[0]
    seen: list[object] = []

    def predict(inputs, prev):
        seen.append(prev)
        return gt  # perfect after one click

    run = robot_loop(predict, gt, ign, max_steps=5, pad=True)
    assert seen == [None]  # no start: predict's first previous mask is None
    assert len(run.steps) == 1 and run.stopped and len(run.masks) == 5 and run.ious == [1.0]
    assert isinstance(run.inputs[0], Click) and run.inputs[0].positive

    run = robot_loop(lambda i, p: p, gt, start=np.zeros_like(gt), max_steps=3, stop=lambda v: True)
    assert len(run.steps) == 1 and run.stopped

    def boom(inputs, prev):
        if len(inputs) == 2:
            raise RuntimeError("boom")
        return prev

    record = RobotRun()
    with pytest.raises(RuntimeError):
        robot_loop(boom, gt, start=np.zeros_like(gt), max_steps=5, run=record)
    assert len(record.inputs) == 2 and len(record.ious) == 1  # the failing click recorded, its IoU not
