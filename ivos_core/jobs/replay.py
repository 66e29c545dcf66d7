"""Replay a logged session: the compute of a ``segment-video`` job, without Prefect.

Order (the paper's interactive video workflow, DESIGN "Jobs"), one step each below:

1. first frame (:meth:`_Replay.run_frame`): each logged iteration runs the interactive model with
   the inputs given so far (cumulative, as the user saw them) on the previous iteration's mask
   (none for the first);
2. the final first-frame mask becomes OSVOS's training frame (:meth:`_Replay.fit_and_propagate`);
3. each refinement frame (in logged order): its iterations run on the *propagated* mask of that
   frame, as corrections (no clicked-component filter: the propagated mask's parts were never
   clicked); the corrected mask is added as a training frame, OSVOS is fine-tuned again and the
   video re-propagated (progressive refinement); annotated frames keep their corrected masks;
4. score (:func:`score_frames`) and record (:func:`_record`): one :class:`JobRecord`.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ivos_core.interactions import AnnotatedFrame, Session
from ivos_core.jobs.backends import ReplayBackend, VideoSegmenterBackend
from ivos_core.jobs.models import JobError, ModelVersion
from ivos_core.jobs.record import JobRecord
from ivos_core.metrics import iou
from ivos_core.paths import resolve_video_ref
from ivos_core.protocols import FrameSource, ProgressFn, UserInput

__all__ = ["ReplayResult", "replay_session", "load_ground_truth", "score_frames"]


@dataclass
class ReplayResult:
    """Masks of every frame plus the job's results record."""

    session_id: str
    model_version: str
    video_path: Path
    fps: float
    masks: list[np.ndarray]
    record: JobRecord


def load_ground_truth(video_path: Path, n_frames: int) -> list[np.ndarray | None] | None:
    """DAVIS layout (``JPEGImages/<res>/<seq>`` -> ``Annotations/<res>/<seq>``): masks per frame
    (None where a frame has none); None when the video has no ground truth."""
    p = Path(video_path)
    if not p.is_dir() or len(p.parents) < 3 or p.parents[1].name != "JPEGImages":
        return None
    ann = p.parents[2] / "Annotations" / p.parent.name / p.name
    if not ann.is_dir():
        return None
    from ivos_core.data.common import read_label_map

    frames = sorted(q for q in p.iterdir() if q.suffix.lower() in (".jpg", ".jpeg", ".png"))
    out: list[np.ndarray | None] = []
    for f in frames[:n_frames]:
        m = ann / (f.stem + ".png")
        if m.is_file():
            lab = read_label_map(m)
            vals = set(np.unique(lab).tolist())
            # DAVIS 2016: grey 0/255 (or 0/1); 2017: object ids with 255 = void -> object 1
            out.append(lab > 0 if vals <= {0, 255} or vals <= {0, 1} else lab == 1)
        else:
            out.append(None)
    return out if any(m is not None for m in out) else None


def _iou_or_none(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    if a is None or b is None:
        return None
    return float(iou(a, b))


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def _open_video(session: Session, video_roots: Sequence[str | Path] | None) -> tuple[Path, FrameSource]:
    """The session's video inside the roots; refuses one whose size differs from the log's."""
    from ivos_core.data.video import open_video

    video_path = resolve_video_ref(session.video.uri, video_roots)
    src = open_video(video_path, fps=session.video.fps or 24.0)
    if (src.width, src.height) != (session.video.width, session.video.height):
        raise JobError(
            f"video {video_path} is {src.width}x{src.height} but session {session.session_id} was recorded "
            f"on {session.video.width}x{session.video.height}; its clicks would land in the wrong place"
        )
    return video_path, src


@dataclass
class _Replay:
    """The state of one replay: the backend, the annotated frames, iteration rows, timings."""

    backend: ReplayBackend
    n_frames: int
    progress: ProgressFn | None
    total_units: int
    timings: dict[str, float] = field(default_factory=dict)
    iterations: list[dict[str, Any]] = field(default_factory=list)
    annotated: dict[int, np.ndarray] = field(default_factory=dict)
    done_units: int = 0

    def tick(self, label: str) -> None:
        self.done_units += 1
        if self.progress:
            self.progress(self.done_units, self.total_units, label)

    def add_time(self, key: str, since: float) -> None:
        self.timings[key] = self.timings.get(key, 0.0) + time.perf_counter() - since

    def run_frame(self, fr: AnnotatedFrame, start_mask: np.ndarray | None, *, correction: bool) -> np.ndarray:
        """Replay one annotated frame's iterations (cumulative inputs); its final mask."""
        prev = start_mask
        cum: list[UserInput] = []
        for it in fr.iterations:
            cum.extend(it.inputs)
            t0 = time.perf_counter()
            m = np.asarray(self.backend.interact(fr.frame_index, list(cum), prev, correction=correction), dtype=bool)
            self.iterations.append({
                "frame_index": fr.frame_index, "stage": fr.stage, "iteration": it.index, "n_inputs": len(it.inputs),
                "mask_area": int(m.sum()), "iou_prev": _iou_or_none(m, prev),
                "seconds": round(time.perf_counter() - t0, 4),
            })
            prev = m
        assert prev is not None
        self.annotated[fr.frame_index] = prev
        return prev

    def fit_and_propagate(self, steps: int) -> tuple[list[np.ndarray], list[float]]:
        """Fine-tune on every annotated frame, propagate; annotated frames keep their masks."""
        for idx, m in self.annotated.items():
            self.backend.add_annotation(idx, m)
        t1 = time.perf_counter()
        self.backend.fit(steps)
        self.add_time("fit_s", t1)
        t1 = time.perf_counter()
        masks: list[np.ndarray | None] = [None] * self.n_frames
        conf = [0.0] * self.n_frames
        for fo in self.backend.propagate():
            if 0 <= fo.index < self.n_frames:
                masks[fo.index] = np.asarray(fo.mask, dtype=bool)
                conf[fo.index] = float(fo.confidence)
        self.add_time("propagate_s", t1)
        missing = [i for i, m in enumerate(masks) if m is None and i not in self.annotated]
        if missing:
            raise JobError(f"propagation returned no mask for frames {missing[:10]}")
        for idx, m in self.annotated.items():
            masks[idx], conf[idx] = m, 1.0
        return [m for m in masks if m is not None], conf


def score_frames(
    masks: list[np.ndarray], conf: list[float], annotated: set[int] | dict[int, Any], gt: list[np.ndarray | None] | None
) -> list[dict[str, Any]]:
    """One row per output frame: confidence, area, IoU to the previous frame and to ground truth."""
    rows = []
    for i, m in enumerate(masks):
        rec: dict[str, Any] = {
            "frame_index": i,
            "annotated": i in annotated,
            "confidence": round(conf[i], 4),
            "mask_area": int(m.sum()),
            "iou_prev_frame": _iou_or_none(m, masks[i - 1]) if i > 0 else None,
        }
        if gt is not None and i < len(gt) and gt[i] is not None:
            rec["iou_gt"] = float(iou(m, gt[i]))
        rows.append(rec)
    return rows


def _record(
    session: Session, run: _Replay, frames: list[dict[str, Any]], conf: list[float],
    video: dict[str, Any], spec: ModelVersion | None, device: str,
) -> JobRecord:
    """The job's :class:`JobRecord` from the replay's rows."""
    gt_ious = [f["iou_gt"] for f in frames if "iou_gt" in f]
    areas = [f["mask_area"] / float(max(1, video["width"] * video["height"])) for f in frames]
    consec = [f["iou_prev_frame"] for f in frames if f["iou_prev_frame"] is not None]
    secs = [it["seconds"] for it in run.iterations if it.get("seconds") is not None]
    version = run.backend.version
    return JobRecord(
        session_id=session.session_id, user_id=session.user_id, model_version=version,
        model=spec.to_dict() if spec else {"version": version}, video=video,
        iterations=run.iterations, frames=frames,
        summary={
            "n_iterations": len(run.iterations), "n_annotated_frames": len(run.annotated),
            "mean_confidence": _mean(conf), "mean_iou_gt": _mean(gt_ious),
        },
        timings={k: round(v, 4) for k, v in run.timings.items()},
        host=socket.gethostname(), finished_at=datetime.now(timezone.utc),
        status="ok", runtime_s=round(run.timings.get("total_s", 0.0), 4),
        device=str(getattr(run.backend, "device", device)), n_frames=len(frames), n_iterations=len(run.iterations),
        mean_iteration_s=_mean(secs), mask_area_mean=_mean(areas), consecutive_iou_mean=_mean(consec),
        final_iou=_mean(gt_ious),
    )


def replay_session(
    session: Session,
    *,
    video_roots: Sequence[str | Path] | None,
    backend: ReplayBackend | None = None,
    spec: ModelVersion | None = None,
    device: str = "auto",
    progress: ProgressFn | None = None,
) -> ReplayResult:
    """Replay ``session``; see the module docstring for the order. Either ``backend`` (tests,
    custom models) or ``spec`` (builds :class:`VideoSegmenterBackend`) must be given.

    Raises :class:`ivos_core.paths.UnsafePathError` / ``FileNotFoundError`` for a bad video
    reference (the message names the uri and the roots) and :class:`JobError` when the video does
    not match the session's recorded geometry.
    """
    t_start = time.perf_counter()
    video_path, src = _open_video(session, video_roots)
    if backend is None:
        if spec is None:
            raise ValueError("replay_session needs a backend or a model spec")
        backend = VideoSegmenterBackend(spec, device=device)
    backend.open(video_path)
    run = _Replay(backend, len(src), progress, total_units=2 + 2 * len(session.refinement_frames))
    run.timings["open_s"] = time.perf_counter() - t_start
    t0 = time.perf_counter()
    first = session.first_frame  # an imported mask (frames[0].initial_mask) is where its clicks start
    run.run_frame(first, first.initial_mask.decode() if first.initial_mask is not None else None, correction=False)
    run.add_time("first_frame_s", t0)
    run.tick("first frame")
    masks, conf = run.fit_and_propagate(spec.finetune_steps if spec else 0)
    run.tick("propagated")
    t0 = time.perf_counter()
    for fr in session.refinement_frames:
        run.run_frame(fr, masks[fr.frame_index], correction=True)
        run.tick(f"refined frame {fr.frame_index}")
        masks, conf = run.fit_and_propagate(spec.refinement_steps if spec else 0)  # progressive refinement
        run.tick(f"re-propagated after frame {fr.frame_index}")
    run.add_time("refinement_s", t0)
    run.add_time("total_s", t_start)
    frames = score_frames(masks, conf, run.annotated, load_ground_truth(video_path, len(src)))
    video = {"uri": session.video.uri, "path": str(video_path), "n_frames": len(src), "width": src.width, "height": src.height}
    return ReplayResult(
        session_id=session.session_id,
        model_version=backend.version,
        video_path=video_path,
        fps=float(session.video.fps or getattr(src, "fps", 24.0) or 24.0),
        masks=masks,
        record=_record(session, run, frames, conf, video, spec, device),
    )
