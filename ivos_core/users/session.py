"""Simulated annotation sessions: one user's session on a video (:func:`simulate_session`), many
users' sessions over a set of videos (:func:`simulate_sessions`), written as session logs
(:func:`write_sessions`). See :mod:`ivos_core.users` for the behaviour model."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ivos_core.interactions import AnnotatedFrame, Session, VideoRef, save_session
from ivos_core.metrics import iou
from ivos_core.protocols import SegmentFn
from ivos_core.users.annotator import _as_mask, _Clock, _run_frame
from ivos_core.users.profiles import UserProfile, sample_users
from ivos_core.users.videos import PropagateFn, VideoLike

__all__ = ["DEFAULT_START", "SIMULATOR_VERSION", "simulate_session", "simulate_sessions", "write_sessions"]

SIMULATOR_VERSION = "ivos_core.behaviour/1"
"""Recorded in every simulated session's ``meta["simulator"]``; bump when behaviour changes (the
name is the module's before it moved here: the behaviour did not change)."""


def simulate_session(
    video: VideoLike,
    video_ref: VideoRef,
    user: UserProfile,
    *,
    segment: SegmentFn,
    propagate: PropagateFn | None = None,
    rng: np.random.Generator,
    session_id: str,
    created_at: datetime,
    meta: dict[str, Any] | None = None,
) -> Session:
    """One simulated user's session on ``video`` (see :mod:`ivos_core.users` for the behaviour).

    ``video`` gives frames (H, W, 3) uint8 and ground-truth masks (H, W) bool; ``video_ref``
    must describe it (its ``width``/``height`` are the frame size, inputs are clipped to them).
    ``propagate`` is called at most once, only when the user decides to refine. ``meta`` is
    merged into the session's ``meta``, which also records the simulator version, the user
    profile, IoU after each iteration, whether the user was satisfied and whether they refined.
    Raises ValueError when the first frame's ground truth is empty (nothing to annotate).
    """
    image = np.asarray(video.frame(0))
    gt = np.asarray(video.mask(0)).astype(bool)
    h, w = gt.shape
    if image.shape[:2] != (h, w):
        raise ValueError(f"frame 0 is {image.shape[:2]} but its mask is {(h, w)}")
    if (w, h) != (video_ref.width, video_ref.height):
        raise ValueError(f"video_ref says {video_ref.width}x{video_ref.height}, frames are {w}x{h}")
    if not gt.any():
        raise ValueError(f"{video_ref.uri}: the first frame's ground truth is empty; nothing to annotate")
    clock = _Clock()
    iterations, ious, first_mask = _run_frame(
        image, gt, user, segment=segment, start_mask=None, max_iterations=user.patience,
        first_frame=True, rng=rng, clock=clock,
    )
    frames = [AnnotatedFrame(frame_index=0, stage="first_frame", iterations=iterations)]
    info: dict[str, Any] = {
        "first_frame_ious": ious,
        "satisfied": bool(ious and ious[-1] >= user.satisfaction_iou),
        "refined": False,
    }
    wants_refine = bool(rng.random() < user.refine_probability)
    if wants_refine and propagate is not None and len(video) > 1:
        clock.advance(user.propagation_wait_s * float(rng.lognormal(0.0, 0.3)))
        refined, refined_ious = _refine(
            video, user, first_mask, segment=segment, propagate=propagate, rng=rng, clock=clock
        )
        frames += refined
        info["refined"] = len(frames) > 1
        info["refinement_ious"] = refined_ious  # propagated IoU, then after each iteration
    return Session(
        session_id=session_id,
        user_id=user.user_id,
        created_at=created_at,
        video=video_ref,
        frames=frames,
        source="simulated",
        meta={"simulator": SIMULATOR_VERSION, "user": user.to_dict(), **info, **(meta or {})},
    )


def _refine(
    video: VideoLike,
    user: UserProfile,
    first_mask: np.ndarray,
    *,
    segment: SegmentFn,
    propagate: PropagateFn,
    rng: np.random.Generator,
    clock: _Clock,
) -> tuple[list[AnnotatedFrame], dict[str, list[float]]]:
    """The refining user: propagate, pick the 1-2 worst frames (lowest IoU to the ground truth),
    correct each with 1-3 iterations from its propagated mask. Returns the refined frames and,
    per frame, the propagated IoU followed by the IoU after each iteration."""
    h, w = first_mask.shape
    masks = list(propagate(first_mask))
    if len(masks) != len(video):
        raise ValueError(f"propagate returned {len(masks)} masks for a {len(video)}-frame video")
    gts = {i: np.asarray(video.mask(i)).astype(bool) for i in range(1, len(video))}
    frame_iou = {i: iou(_as_mask(masks[i], (h, w), "propagate"), g) for i, g in gts.items()}
    p_frames = np.asarray(user.refine_frames, np.float64)
    n_ref = 1 + int(rng.choice(len(p_frames), p=p_frames / p_frames.sum()))
    worst = [i for i in sorted(frame_iou, key=lambda i: (frame_iou[i], i)) if frame_iou[i] < 1.0][:n_ref]
    frames: list[AnnotatedFrame] = []
    refined_ious: dict[str, list[float]] = {}
    for fi in worst:
        p_it = np.asarray(user.refine_iterations, np.float64)
        budget = 1 + int(rng.choice(len(p_it), p=p_it / p_it.sum()))
        its, r_ious, _ = _run_frame(
            np.asarray(video.frame(fi)), gts[fi], user, segment=segment,
            start_mask=_as_mask(masks[fi], (h, w), "propagate"), max_iterations=budget,
            first_frame=False, rng=rng, clock=clock,
        )
        if its:
            frames.append(AnnotatedFrame(frame_index=fi, stage="refinement", iterations=its))
            refined_ious[str(fi)] = [round(frame_iou[fi], 4)] + r_ious
    return frames, refined_ious


DEFAULT_START = datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc)


def simulate_sessions(
    videos: Sequence[tuple[VideoLike, VideoRef]],
    n: int,
    rng: np.random.Generator,
    segment_factory: Callable[[VideoLike], SegmentFn],
    propagate_factory: Callable[[VideoLike], PropagateFn] | None = None,
    *,
    users: Sequence[UserProfile] | None = None,
    start: datetime = DEFAULT_START,
    days: float = 14.0,
    meta: dict[str, Any] | None = None,
) -> list[Session]:
    """``n`` sessions: each a random user (of ``users``, default ``sample_users(max(1, n // 3))``
    so users return) on a random video of ``videos`` (pairs of video and its :class:`VideoRef`).

    ``segment_factory(video)`` / ``propagate_factory(video)`` build the per-video functions
    (called lazily, once per video). Each session gets its own seed (``meta["seed"]``) drawn from
    ``rng``; its id is ``sim-<seed as 16 hex digits>``; ``created_at`` values are sorted random
    times in ``[start, start + days)``. Videos whose first frame has no object are skipped with
    their index in the error message if *all* are unusable.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not videos:
        raise ValueError("no videos to simulate sessions on")
    usable = [k for k, (v, _) in enumerate(videos) if np.asarray(v.mask(0)).any()]
    if not usable:
        raise ValueError(f"none of the {len(videos)} videos has an object in its first frame")
    if users is None:
        users = sample_users(max(1, n // 3), rng)
    if not users:
        raise ValueError("users is empty")
    offsets = np.sort(rng.uniform(0.0, days * 86400.0, size=n))
    seg_cache: dict[int, SegmentFn] = {}
    prop_cache: dict[int, PropagateFn] = {}
    sessions = []
    for i in range(n):
        seed = int(rng.integers(0, 2**63 - 1))
        user = users[int(rng.integers(len(users)))]
        k = usable[int(rng.integers(len(usable)))]
        video, ref = videos[k]
        if k not in seg_cache:
            seg_cache[k] = segment_factory(video)
        prop = None
        if propagate_factory is not None:
            if k not in prop_cache:
                prop_cache[k] = _lazy(propagate_factory, video)
            prop = prop_cache[k]
        sessions.append(
            simulate_session(
                video, ref, user, segment=seg_cache[k], propagate=prop,
                rng=np.random.default_rng(seed), session_id=f"sim-{seed:016x}",
                created_at=start + timedelta(seconds=round(float(offsets[i]), 3)),
                meta={"seed": seed, **(meta or {})},
            )
        )
    return sessions


def _lazy(factory: Callable[[VideoLike], PropagateFn], video: VideoLike) -> PropagateFn:
    """Build the propagation function only when a user first refines (it can be expensive)."""
    built: list[PropagateFn] = []

    def propagate(first_mask: np.ndarray) -> Sequence[np.ndarray]:
        if not built:
            built.append(factory(video))
        return built[0](first_mask)

    return propagate


def write_sessions(sessions: Iterable[Session], out_dir: str | Path) -> list[Path]:
    """One ``<session_id>.json`` per session in ``out_dir`` (atomic writes via ``save_session``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [save_session(s, out / f"{s.session_id}.json") for s in sessions]
