"""Session logs made by the NoC robot from ground-truth masks (tests, benchmarks, demos): one
object (:func:`robot_session`) or several from DAVIS-2017-style label maps (:func:`robot_objects_session`)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable, Sequence

import numpy as np

from ivos_core.interactions import AnnotatedFrame, Interaction, Session, SessionObject, VideoRef
from ivos_core.protocols import UserInput

__all__ = ["robot_session", "robot_objects_session"]


def _disk_predict(gt: np.ndarray) -> Callable[[list[UserInput], np.ndarray | None], np.ndarray]:
    """A stand-in model for making logs without a network: each click adds (positive, within the
    ground truth) or removes (negative) a disk of 15% of the shorter side around it, so the
    robot's next click goes where this crude mask is still wrong."""
    yy, xx = np.ogrid[: gt.shape[0], : gt.shape[1]]
    radius2 = (0.15 * min(gt.shape)) ** 2

    def predict(inputs: list[UserInput], prev: np.ndarray | None) -> np.ndarray:
        pred = np.zeros_like(gt) if prev is None else prev
        c = inputs[-1]
        disk = (yy - c.y) ** 2 + (xx - c.x) ** 2 <= radius2
        return (pred | (disk & gt)) if c.positive else (pred & ~disk)

    return predict


def _robot_iterations(gt_mask: np.ndarray, n: int, object_id: int = 1) -> list[Interaction]:
    """Up to ``n`` robot clicks on ``gt_mask`` (fewer when nothing is left to fix), run by the
    shared :func:`ivos_core.robot.robot_loop` against :func:`_disk_predict`; one iteration each."""
    from ivos_core.robot import robot_loop

    gt = np.asarray(gt_mask, dtype=bool)
    run = robot_loop(_disk_predict(gt), gt, max_steps=n)
    return [Interaction(index=i, inputs=[c.model_copy(update={"object_id": object_id}) for c in step], duration_s=1.0)
            for i, step in enumerate(run.steps)]


def _robot_frame(gt_mask: np.ndarray, idx: int, n: int, stage: str) -> AnnotatedFrame:
    its = _robot_iterations(gt_mask, n)
    if not its:
        raise ValueError(f"frame {idx}: the robot found nothing to click (empty ground truth?)")
    return AnnotatedFrame(frame_index=idx, stage=stage, iterations=its)


def robot_session(
    gt_masks: Sequence[np.ndarray],
    *,
    uri: str,
    session_id: str,
    clicks_first: int = 3,
    refine_frames: Sequence[int] = (),
    clicks_refine: int = 1,
    fps: float | None = 24.0,
    user_id: str = "robot",
) -> Session:
    """A session log made by the NoC robot from ground-truth masks: ``clicks_first`` iterations
    (one click each) on frame 0, then ``clicks_refine`` on each of ``refine_frames``. The robot
    clicks against an empty prediction then against the ground truth with the previous clicks'
    disks (a model-free stand-in for what a user saw), which is enough for tests and benches."""
    h, w = np.asarray(gt_masks[0]).shape
    frames = [_robot_frame(gt_masks[0], 0, clicks_first, "first_frame")]
    frames += [_robot_frame(gt_masks[i], i, clicks_refine, "refinement") for i in refine_frames]
    return Session(
        session_id=session_id,
        user_id=user_id,
        created_at=datetime.now(timezone.utc),
        video=VideoRef(uri=uri, width=int(w), height=int(h), n_frames=len(gt_masks), fps=fps),
        frames=frames,
        source="simulated",
    )


def robot_objects_session(
    gt_labels: Sequence[np.ndarray],
    *,
    uri: str,
    session_id: str,
    object_ids: Sequence[int] | None = None,
    clicks_first: int = 3,
    fps: float | None = 24.0,
    user_id: str = "robot",
) -> Session:
    """A schema-2.0 session of several objects on frame 0 of ``gt_labels`` (label maps, 0
    background, k object k): the robot's ``clicks_first`` iterations for each object in turn (as
    :func:`robot_session`), every click carrying its object id. ``object_ids``: default, the ids
    present in frame 0."""
    first = np.asarray(gt_labels[0])
    h, w = first.shape
    ids = sorted(int(v) for v in np.unique(first) if 0 < v < 255) if object_ids is None else list(object_ids)
    its: list[Interaction] = []
    for k in ids:
        mine = _robot_iterations(first == k, clicks_first, k)
        if not mine:
            raise ValueError(f"object {k}: the robot found nothing to click on frame 0 (not in the ground truth?)")
        its += [it.model_copy(update={"index": len(its) + j}) for j, it in enumerate(mine)]
    return Session(
        session_id=session_id, user_id=user_id, created_at=datetime.now(timezone.utc),
        video=VideoRef(uri=uri, width=int(w), height=int(h), n_frames=len(gt_labels), fps=fps),
        frames=[AnnotatedFrame(frame_index=0, stage="first_frame", iterations=its)],
        objects=[SessionObject(id=k) for k in ids], source="simulated",
    )
