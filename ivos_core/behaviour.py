"""Behaviour-simulated annotation sessions: synthetic users who click, stroke or highlight.

Why: the usage analyses of paper §4 (Figs. 7-9, the 15% who refine) need session logs, and a
deployment has none on day one. These simulated users produce logs in the same schema as
recorded ones (:class:`~ivos_core.interactions.Session`, ``source="simulated"``), so the demo,
the tests, the analytics store and the job queue run on them unchanged.

A simulated user (:class:`UserProfile`) behaves like the three patterns of §4.1:

* **clicker** - independent clicks, each at the interior-most point of the largest error region
  (the NoC robot's rule, :class:`~ivos_core.simulation.RobotUser`) displaced by Gaussian
  positional noise (people annotate inaccurately, §4.2); the label is the intended one, so a
  noisy click may land on the wrong side of a boundary, as real ones do.
* **stroker** - short strokes drawn inside error regions
  (:func:`~ivos_core.simulation.sample_correction_stroke`), positive in missed object parts,
  negative in wrongly included background.
* **highlighter** - one broad back-and-forth scribble over the whole object first
  (:func:`~ivos_core.simulation.simulate_highlight`), then correction strokes.

On the first frame the user iterates: give 1-3 inputs (per the user's distribution), run the
segmenter on the frame's inputs so far and the previous iteration's mask, look at the result,
stop when its IoU to the ground truth reaches the user's ``satisfaction_iou`` or after
``patience`` iterations (gives up). When several inputs are given in one iteration the user
aims each at a *different* mistake: after each input the error region it touched counts as
"fixed" in the user's head before the next one is placed. Then, with probability
``refine_probability`` (the paper: 15% of users refine), and only when a propagation function is
given, the user looks at the propagated result, picks its worst 1-2 frames (lowest IoU to the
ground truth, standing in for "looks worst") and corrects each with 1-3 iterations starting from
the propagated mask (stage ``refinement``).

Times ``t`` (seconds since session start) and ``duration_s`` (an iteration from the user's look
at the current result to the model's next result) come from a simple model: a look at the frame
before each iteration's first input, ``seconds_per_input`` per click (log-normal jitter), strokes
at ``draw_speed_px_s`` along their path, the model's latency and a look at each result, and a
wait for propagation before refinement. Every input lies inside the frame (clipped) and times
strictly increase.

Randomness: one ``numpy.random.Generator`` per session, built from a seed drawn by
:func:`simulate_sessions` and recorded in ``session.meta["seed"]``, so any session can be
regenerated on its own with :func:`simulate_session`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Protocol, Sequence, Union

import cv2
import numpy as np

from ivos_core.interactions import (
    AnnotatedFrame,
    Click,
    Interaction,
    Session,
    Stroke,
    VideoRef,
    save_session,
)
from ivos_core.metrics import iou

__all__ = [
    "SIMULATOR_VERSION",
    "DEFAULT_MIX",
    "PAPER_REFINE_SHARE",
    "UserKind",
    "UserProfile",
    "VideoLike",
    "ArrayVideo",
    "SegmentFn",
    "PropagateFn",
    "sample_users",
    "simulate_session",
    "simulate_sessions",
    "write_sessions",
    "grabcut_segment",
    "model_segment",
    "at_scale",
    "flow_propagate",
]

SIMULATOR_VERSION = "ivos_core.behaviour/1"
"""Recorded in every simulated session's ``meta["simulator"]``; bump when behaviour changes."""

PAPER_REFINE_SHARE = 0.15
"""Paper §4.1: "only 15% of our users invest time to do a refinement"."""

UserKind = Literal["clicker", "stroker", "highlighter"]
USER_KINDS: tuple[str, ...] = ("clicker", "stroker", "highlighter")

DEFAULT_MIX: dict[str, float] = {"clicker": 0.5, "stroker": 0.3, "highlighter": 0.2}
"""Share of each user kind in :func:`sample_users`. The paper names the three patterns (§4.1,
Fig. 7) but gives no shares; this mix is an assumption: clicks are what the tool's UI suggests,
strokes the most common alternative, highlighting the least common."""

UserInput = Union[Click, Stroke]
SegmentFn = Callable[[np.ndarray, Sequence[UserInput], Union[np.ndarray, None]], np.ndarray]
"""``segment(image (H, W, 3) uint8 RGB, inputs, prev_mask (H, W) bool | None) -> (H, W) bool``.

``inputs`` are all inputs given on this frame so far, oldest first (the last iteration's are at
the end); ``prev_mask`` is the previous iteration's result (None on the first iteration of the
first frame; the propagated mask on the first iteration of a refinement frame)."""

PropagateFn = Callable[[np.ndarray], Sequence[np.ndarray]]
"""``propagate(first_mask (H, W) bool) -> masks``: one (H, W) mask per video frame (index 0 is
the first frame's own mask and is not looked at)."""


class VideoLike(Protocol):
    """What a simulated user needs of a video: frames and ground-truth masks by index.

    :class:`~ivos_core.data.davis.DavisSequence` and :class:`ArrayVideo` satisfy it.
    """

    def __len__(self) -> int: ...

    def frame(self, i: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB."""
        ...

    def mask(self, i: int) -> np.ndarray:
        """(H, W) bool ground truth of the annotated object."""
        ...


@dataclass
class ArrayVideo:
    """An in-memory video: ``frames`` (T, H, W, 3) uint8 RGB and ``masks`` (T, H, W) bool."""

    frames: np.ndarray
    masks: np.ndarray
    name: str = "video"

    def __post_init__(self) -> None:
        self.frames = np.asarray(self.frames)
        self.masks = np.asarray(self.masks).astype(bool)
        if self.frames.ndim != 4 or self.frames.shape[-1] != 3:
            raise ValueError(f"frames must be (T, H, W, 3), got {self.frames.shape}")
        if self.masks.shape != self.frames.shape[:3]:
            raise ValueError(f"masks {self.masks.shape} do not match frames {self.frames.shape[:3]}")

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def frame(self, i: int) -> np.ndarray:
        return self.frames[i]

    def mask(self, i: int) -> np.ndarray:
        return self.masks[i]


# ----------------------------------------------------------------------------------------------
# users
# ----------------------------------------------------------------------------------------------
def _check_distribution(name: str, p: Sequence[float]) -> None:
    if not p or any(v < 0 for v in p) or not math.isclose(sum(p), 1.0, abs_tol=1e-6):
        raise ValueError(f"{name} must be non-negative probabilities summing to 1, got {tuple(p)}")


@dataclass(frozen=True)
class UserProfile:
    """How one simulated user behaves (see the module docstring for the behaviour model).

    Distributions are tuples of probabilities: ``inputs_per_iteration[k]`` is P(k + 1 inputs in
    an iteration), ``refine_frames[k]`` P(k + 1 frames refined), ``refine_iterations[k]`` the
    iteration budget P(k + 1) per refined frame. ``stroke_radius`` is the brush of stroke and
    correction inputs (pixels); highlighters' first scribble uses a broad brush sized to the
    object (:func:`~ivos_core.simulation.simulate_highlight`).
    """

    user_id: str
    kind: UserKind
    satisfaction_iou: float = 0.89
    patience: int = 8
    inputs_per_iteration: tuple[float, ...] = (0.7, 0.2, 0.1)
    refine_probability: float = PAPER_REFINE_SHARE
    refine_frames: tuple[float, ...] = (0.6, 0.4)
    refine_iterations: tuple[float, ...] = (0.4, 0.35, 0.25)
    seconds_per_input: float = 1.5
    look_seconds: float = 2.0
    model_latency_s: float = 0.8
    propagation_wait_s: float = 30.0
    draw_speed_px_s: float = 400.0
    click_noise_px: float = 3.0
    stroke_radius: float = 3.0

    def __post_init__(self) -> None:
        if self.kind not in USER_KINDS:
            raise ValueError(f"kind must be one of {USER_KINDS}, got {self.kind!r}")
        if not 0.0 < self.satisfaction_iou <= 1.0:
            raise ValueError(f"satisfaction_iou must be in (0, 1], got {self.satisfaction_iou}")
        if self.patience < 1:
            raise ValueError(f"patience must be >= 1, got {self.patience}")
        if not 0.0 <= self.refine_probability <= 1.0:
            raise ValueError(f"refine_probability must be in [0, 1], got {self.refine_probability}")
        for name in ("inputs_per_iteration", "refine_frames", "refine_iterations"):
            _check_distribution(name, getattr(self, name))
        for name in ("seconds_per_input", "draw_speed_px_s", "stroke_radius"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if min(self.look_seconds, self.model_latency_s, self.propagation_wait_s, self.click_noise_px) < 0:
            raise ValueError("times and click_noise_px must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (recorded in ``session.meta["user"]``)."""
        d = asdict(self)
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


def sample_users(
    n: int,
    rng: np.random.Generator,
    *,
    mix: dict[str, float] | None = None,
    refine_share: float = PAPER_REFINE_SHARE,
    id_prefix: str = "simuser",
) -> list[UserProfile]:
    """``n`` users with a documented mix of kinds and per-user noise.

    * kind: drawn from ``mix`` (default :data:`DEFAULT_MIX`: 50% clickers, 30% strokers, 20%
      highlighters - an assumption, the paper gives no shares);
    * ``satisfaction_iou`` ~ Normal(0.89, 0.025) clipped to [0.80, 0.96] - people stop at
      "good enough", and their "good enough" differs;
    * ``patience`` = 2 + Poisson(4), clipped to [2, 15] iterations (the paper's median is 4
      first-frame iterations, Fig. 8; patience is an upper bound, satisfaction often stops earlier);
    * ``refine_probability`` ~ Beta(1.5, 1.5 (1 - s) / s) with mean ``refine_share`` (default the
      paper's 15%), so users differ but about ``refine_share`` of sessions refine;
    * inputs per iteration: clickers (0.7, 0.2, 0.1) for 1/2/3 inputs, strokers (0.6, 0.3, 0.1),
      highlighters (0.85, 0.15);
    * timing and precision: ``seconds_per_input`` log-normal around 1.5 s, ``click_noise_px``
      uniform 1-5 px, stroke brush 2-5 px (highlighters' corrections 4-8 px).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    mix = dict(DEFAULT_MIX if mix is None else mix)
    unknown = set(mix) - set(USER_KINDS)
    if unknown:
        raise ValueError(f"unknown user kinds in mix: {sorted(unknown)}; use {USER_KINDS}")
    kinds = list(mix)
    probs = np.array([mix[k] for k in kinds], np.float64)
    if (probs < 0).any() or probs.sum() <= 0:
        raise ValueError(f"mix must have non-negative shares with a positive sum, got {mix}")
    probs /= probs.sum()
    if not 0.0 <= refine_share <= 1.0:
        raise ValueError(f"refine_share must be in [0, 1], got {refine_share}")
    per_iter = {"clicker": (0.7, 0.2, 0.1), "stroker": (0.6, 0.3, 0.1), "highlighter": (0.85, 0.15)}
    users = []
    for i in range(n):
        kind = kinds[int(rng.choice(len(kinds), p=probs))]
        if 0.0 < refine_share < 1.0:
            refine_p = float(rng.beta(1.5, 1.5 * (1.0 - refine_share) / refine_share))
        else:
            refine_p = float(refine_share)
        users.append(
            UserProfile(
                user_id=f"{id_prefix}-{i:04d}",
                kind=kind,  # type: ignore[arg-type]
                satisfaction_iou=round(float(np.clip(rng.normal(0.89, 0.025), 0.80, 0.96)), 4),
                patience=int(np.clip(2 + rng.poisson(4.0), 2, 15)),
                inputs_per_iteration=per_iter[kind],
                refine_probability=round(refine_p, 4),
                seconds_per_input=round(float(1.5 * rng.lognormal(0.0, 0.25)), 3),
                click_noise_px=round(float(rng.uniform(1.0, 5.0)), 2),
                stroke_radius=round(float(rng.uniform(4.0, 8.0) if kind == "highlighter" else rng.uniform(2.0, 5.0)), 2),
            )
        )
    return users


# ----------------------------------------------------------------------------------------------
# geometry: clipping and "the user thinks this mistake is now fixed"
# ----------------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------------
# one session
# ----------------------------------------------------------------------------------------------
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
    robot: Any = field(default=None)

    def __post_init__(self) -> None:
        from ivos_core.simulation import RobotUser

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
        from ivos_core.simulation import sample_correction_stroke, simulate_highlight

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
    """Iterate on one frame until satisfied or ``max_iterations``; return iterations, IoUs, mask."""
    fu = _FrameUser(user=user, gt=gt, rng=rng, clock=clock, first_frame=first_frame)
    prev = start_mask
    cur = np.zeros(gt.shape, bool) if start_mask is None else start_mask.astype(bool)
    given: list[UserInput] = []
    iterations: list[Interaction] = []
    ious: list[float] = []
    for it in range(max_iterations):
        t_start = clock.t  # the iteration starts with a look at the current result
        clock.advance(user.look_seconds * float(rng.lognormal(0.0, 0.3)))
        new = fu.inputs(cur, it)
        if not new:  # nothing left to fix
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
    """One simulated user's session on ``video`` (see the module docstring for the behaviour).

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
        masks = list(propagate(first_mask))
        if len(masks) != len(video):
            raise ValueError(f"propagate returned {len(masks)} masks for a {len(video)}-frame video")
        gts = {i: np.asarray(video.mask(i)).astype(bool) for i in range(1, len(video))}
        frame_iou = {i: iou(_as_mask(masks[i], (h, w), "propagate"), g) for i, g in gts.items()}
        p_frames = np.asarray(user.refine_frames, np.float64)
        n_ref = 1 + int(rng.choice(len(p_frames), p=p_frames / p_frames.sum()))
        worst = [i for i in sorted(frame_iou, key=lambda i: (frame_iou[i], i)) if frame_iou[i] < 1.0][:n_ref]
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


# ----------------------------------------------------------------------------------------------
# many sessions
# ----------------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------------
# segmenter and propagation adaptors
# ----------------------------------------------------------------------------------------------
def grabcut_segment(**kwargs: Any) -> SegmentFn:
    """A :data:`SegmentFn` around OpenCV GrabCut (``ivos_core.baselines.grabcut``), so sessions
    can be simulated without a trained deep model. ``kwargs`` go to ``GrabCutSegmenter``."""
    from ivos_core.baselines.grabcut import GrabCutSegmenter

    seg = GrabCutSegmenter(**kwargs)

    def segment(image: np.ndarray, inputs: Sequence[UserInput], prev_mask: np.ndarray | None) -> np.ndarray:
        return _as_mask(seg.predict(image, list(inputs), prev_mask), image.shape[:2], "GrabCutSegmenter.predict")

    return segment


def model_segment(segmenter: Any) -> SegmentFn:
    """A :data:`SegmentFn` around an :class:`~ivos_core.segmenter.InteractiveSegmenter`.

    Calls ``set_image`` only when the image changes (it caches the image's features; the user
    iterates on one frame), then ``predict(inputs, prev_mask=...)`` and takes its ``.mask``.
    """
    current: list[np.ndarray] = []

    def segment(image: np.ndarray, inputs: Sequence[UserInput], prev_mask: np.ndarray | None) -> np.ndarray:
        if not current or current[0] is not image:
            segmenter.set_image(image)
            current[:] = [image]
        pred = segmenter.predict(list(inputs), prev_mask=prev_mask)
        return _as_mask(pred, image.shape[:2], "InteractiveSegmenter.predict")

    return segment


def _scale_input(inp: UserInput, s: float, w: int, h: int) -> UserInput:
    if isinstance(inp, Click):
        x, y = inp.x * s, inp.y * s
        return inp.model_copy(update={"x": float(np.clip(x, 0, w - 1)), "y": float(np.clip(y, 0, h - 1))})
    pts = [(float(np.clip(x * s, 0, w - 1)), float(np.clip(y * s, 0, h - 1))) for x, y in inp.points()]
    return inp.model_copy(update={"points_xy": pts, "radius": max(0.5, inp.radius * s)})


def at_scale(segment: SegmentFn, max_side: int) -> SegmentFn:
    """Run ``segment`` on a copy downscaled so its longer side is ``<= max_side`` (inputs,
    brush radii and ``prev_mask`` scaled along), and upscale the mask back (nearest).

    Why: GrabCut at 854x480 takes about a second per iteration; simulating hundreds of sessions
    at a smaller working size is several times faster, and the logged inputs stay at full size.
    """
    if max_side < 16:
        raise ValueError(f"max_side must be >= 16, got {max_side}")

    def segment_small(image: np.ndarray, inputs: Sequence[UserInput], prev_mask: np.ndarray | None) -> np.ndarray:
        h, w = image.shape[:2]
        s = min(1.0, max_side / max(h, w))
        if s >= 1.0:
            return segment(image, inputs, prev_mask)
        sw, sh = max(1, round(w * s)), max(1, round(h * s))
        small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
        prev = None
        if prev_mask is not None:
            prev = cv2.resize(prev_mask.astype(np.uint8), (sw, sh), interpolation=cv2.INTER_NEAREST).astype(bool)
        out = _as_mask(segment(small, [_scale_input(i, s, sw, sh) for i in inputs], prev), (sh, sw), "segment")
        return cv2.resize(out.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)

    return segment_small


def flow_propagate(video: VideoLike, *, max_side: int = 320) -> PropagateFn:
    """A cheap stand-in for OSVOS propagation: warp the mask frame to frame along Farnebäck flow.

    For each frame ``i`` the backward flow ``i -> i-1`` (on grey frames downscaled to
    ``max_side``) pulls the previous mask into frame ``i``; the result is thresholded at 0.5 and
    upscaled. Errors accumulate with motion and occlusion, which is what a refining user sees.
    Not the paper's method: it makes refinement sessions possible without a trained OSVOS model.
    """
    from ivos_core.difficulty import farneback_flow, to_small_grey

    greys = [to_small_grey(np.asarray(video.frame(i)), max_side) for i in range(len(video))]

    def propagate(first_mask: np.ndarray) -> list[np.ndarray]:
        h, w = first_mask.shape
        sh, sw = greys[0].shape
        cur = cv2.resize(first_mask.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
        gx, gy = np.meshgrid(np.arange(sw, dtype=np.float32), np.arange(sh, dtype=np.float32))
        out = [first_mask.astype(bool)]
        for i in range(1, len(greys)):
            flow = farneback_flow(greys[i], greys[i - 1])  # frame i pixel -> where it was in i-1
            cur = cv2.remap(cur, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            cur = (cur >= 0.5).astype(np.float32)
            out.append(cv2.resize(cur, (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5)
        return out

    return propagate
