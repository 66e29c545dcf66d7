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

Several objects (session schema 2.0): steps 1-3 run once per object, in ascending id order, each
with only that object's inputs (an object without inputs on a refinement frame is not refined
there; one without any annotation yet is empty until it gets one) and its own OSVOS
(``backend.start_object``); the objects' results are then put together into one label map per
frame, overlaps resolved the DAVIS way (:mod:`~ivos_core.jobs.objects`), and every object is scored
on that resolved map. A session with one object runs exactly the one-object path.
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
from ivos_core.jobs.objects import LabelMerger, has_inputs, object_iterations
from ivos_core.jobs.record import JobRecord
from ivos_core.jobs.scoring import (  # load_ground_truth: re-exported (it lived here)
    iou_or_none,
    load_ground_truth,
    load_ground_truth_labels,
    mean_or_none,
    object_summary,
    score_frames,
)
from ivos_core.paths import resolve_video_ref
from ivos_core.protocols import FrameSource, ProgressFn, UserInput

__all__ = ["ReplayResult", "replay_session", "load_ground_truth", "load_ground_truth_labels", "score_frames"]


@dataclass
class ReplayResult:
    """Masks of every frame plus the job's results record.

    ``masks``: one ``(H, W)`` bool mask per frame (all objects together); ``labels``: with several
    objects, the ``uint8`` label maps (0 background, k object k; None with one object, whose id is
    ``object_ids[0]``).
    """

    session_id: str
    model_version: str
    video_path: Path
    fps: float
    masks: list[np.ndarray]
    record: JobRecord
    labels: list[np.ndarray] | None = None
    object_ids: list[int] = field(default_factory=lambda: [1])

    def label_maps(self) -> list[np.ndarray]:
        """One ``uint8`` label map per frame (the palette PNGs): object k is index k."""
        if self.labels is not None:
            return self.labels
        k = np.uint8(self.object_ids[0])
        return [np.where(m, k, np.uint8(0)) for m in self.masks]

    def object_masks(self, object_id: int) -> list[np.ndarray]:
        """One object's resolved masks, frame by frame."""
        if self.labels is None:
            return self.masks if object_id == self.object_ids[0] else [np.zeros_like(m) for m in self.masks]
        return [lab == object_id for lab in self.labels]




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
    """The state of one object's replay: the backend, its annotated frames, iteration rows, timings."""

    backend: ReplayBackend
    n_frames: int
    progress: ProgressFn | None
    total_units: int
    object_id: int = 1
    keep_probs: bool = False  # several objects: keep the last propagation's probabilities
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
        """Replay this object's iterations of one annotated frame (cumulative inputs); its final mask."""
        prev = start_mask
        cum: list[UserInput] = []
        for it, inputs in object_iterations(fr, self.object_id):
            cum.extend(inputs)
            t0 = time.perf_counter()
            m = np.asarray(self.backend.interact(fr.frame_index, list(cum), prev, correction=correction), dtype=bool)
            self.iterations.append({
                "frame_index": fr.frame_index, "stage": fr.stage, "iteration": it.index, "n_inputs": len(inputs),
                "object_id": self.object_id, "mask_area": int(m.sum()), "iou_prev": iou_or_none(m, prev),
                "seconds": round(time.perf_counter() - t0, 4),
            })
            prev = m
        assert prev is not None
        self.annotated[fr.frame_index] = prev
        return prev

    def fit_and_propagate(self, steps: int) -> tuple[list[np.ndarray], list[float], list[np.ndarray | None] | None]:
        """Fine-tune on every annotated frame, propagate; annotated frames keep their masks (and
        probability 1). An object with no annotation yet is empty everywhere (nothing to learn)."""
        if not self.annotated:
            return [], [0.0] * self.n_frames, None
        for idx, m in self.annotated.items():
            self.backend.add_annotation(idx, m)
        t1 = time.perf_counter()
        self.backend.fit(steps)
        self.add_time("fit_s", t1)
        t1 = time.perf_counter()
        masks: list[np.ndarray | None] = [None] * self.n_frames
        conf = [0.0] * self.n_frames
        probs: list[np.ndarray | None] = [None] * self.n_frames
        for fo in self.backend.propagate():
            if 0 <= fo.index < self.n_frames:
                masks[fo.index] = np.asarray(fo.mask, dtype=bool)
                conf[fo.index] = float(fo.confidence)
                if self.keep_probs and fo.prob is not None:
                    probs[fo.index] = np.asarray(fo.prob, dtype=np.float16)
        self.add_time("propagate_s", t1)
        missing = [i for i, m in enumerate(masks) if m is None and i not in self.annotated]
        if missing:
            raise JobError(f"propagation returned no mask for frames {missing[:10]}")
        for idx, m in self.annotated.items():
            masks[idx], conf[idx], probs[idx] = m, 1.0, (m.astype(np.float16) if self.keep_probs else None)
        return [m for m in masks if m is not None], conf, (probs if self.keep_probs else None)


@dataclass
class _ObjectRun:
    """What one object's replay leaves: its masks (and probabilities) plus its bookkeeping."""

    run: _Replay
    masks: list[np.ndarray]
    conf: list[float]
    probs: list[np.ndarray | None] | None


def _units(session: Session, object_id: int) -> int:
    """Progress units of one object: first frame, propagation, and two per refinement frame it has."""
    return 2 + 2 * sum(has_inputs(fr, object_id) for fr in session.refinement_frames)


def _replay_object(
    session: Session, backend: ReplayBackend, object_id: int, n_frames: int, spec: ModelVersion | None,
    progress: ProgressFn | None, units: tuple[int, int], keep_probs: bool,
) -> _ObjectRun:
    """Steps 1-3 of the module docstring for one object (``units``: done before it, total)."""
    run = _Replay(backend, n_frames, progress, units[1], object_id=object_id, keep_probs=keep_probs,
                  done_units=units[0])
    t0 = time.perf_counter()
    first = session.first_frame  # an imported mask (frames[0].initial_mask) is where its clicks start
    init = first.initial_mask
    start = init.decode() if init is not None and init.object_id == object_id else None
    if start is not None or has_inputs(first, object_id):
        run.run_frame(first, start, correction=False)
    run.add_time("first_frame_s", t0)
    run.tick("first frame" if len(session.objects) == 1 else f"object {object_id}: first frame")
    masks, conf, probs = run.fit_and_propagate(spec.finetune_steps if spec else 0)
    run.tick("propagated")
    t0 = time.perf_counter()
    for fr in session.refinement_frames:
        if not has_inputs(fr, object_id):
            continue
        run.run_frame(fr, masks[fr.frame_index] if masks else None, correction=bool(masks))
        run.tick(f"refined frame {fr.frame_index}")
        masks, conf, probs = run.fit_and_propagate(spec.refinement_steps if spec else 0)  # progressive refinement
        run.tick(f"re-propagated after frame {fr.frame_index}")
    run.add_time("refinement_s", t0)
    return _ObjectRun(run, masks, conf, probs)


def _merge(session: Session, runs: dict[int, _ObjectRun], shape: tuple[int, int], n_frames: int) -> LabelMerger:
    """The objects' masks as label maps, overlaps resolved (:class:`LabelMerger`)."""
    merger = LabelMerger(n_frames, *shape)
    for k in session.object_ids:
        r = runs[k]
        if r.masks:  # an object never annotated stays background
            merger.add(k, r.masks, r.probs)
    return merger


def _object_rows(
    session: Session, runs: dict[int, _ObjectRun], masks_of: Any, gt: list[np.ndarray | None] | None, area: int
) -> list[dict[str, Any]]:
    """Per-object results on the resolved masks (``masks_of(k)``); ground truth object k for object k."""
    names = {o.id: o.name for o in session.objects}
    rows = []
    for k in session.object_ids:
        r = runs[k]
        gt_k = None if gt is None else [None if g is None else g == k for g in gt]
        frames = score_frames(masks_of(k), r.conf, r.run.annotated, gt_k)
        row = object_summary(k, names[k], frames, len(r.run.iterations), len(r.run.annotated), area)
        if len(runs) > 1:
            row["frames"] = frames
        rows.append(row)
    return rows


def _record(
    session: Session, runs: dict[int, _ObjectRun], frames: list[dict[str, Any]], conf: list[float],
    objects: list[dict[str, Any]], video: dict[str, Any], spec: ModelVersion | None, backend: ReplayBackend,
    device: str, timings: dict[str, float],
) -> JobRecord:
    """The job's :class:`JobRecord` from the replay's rows (all objects together, then per object)."""
    iterations = [row for r in runs.values() for row in r.run.iterations]
    annotated = {i for r in runs.values() for i in r.run.annotated}
    gt_ious = [f["iou_gt"] for f in frames if "iou_gt" in f]
    areas = [f["mask_area"] / float(max(1, video["width"] * video["height"])) for f in frames]
    consec = [f["iou_prev_frame"] for f in frames if f["iou_prev_frame"] is not None]
    secs = [it["seconds"] for it in iterations if it.get("seconds") is not None]
    version = backend.version
    return JobRecord(
        session_id=session.session_id, user_id=session.user_id, model_version=version,
        model=spec.to_dict() if spec else {"version": version}, video=video,
        iterations=iterations, frames=frames, objects=objects,
        summary={
            "n_iterations": len(iterations), "n_annotated_frames": len(annotated), "n_objects": len(runs),
            "mean_confidence": mean_or_none(conf), "mean_iou_gt": mean_or_none(gt_ious),
        },
        timings={k: round(v, 4) for k, v in timings.items()},
        host=socket.gethostname(), finished_at=datetime.now(timezone.utc),
        status="ok", runtime_s=round(timings.get("total_s", 0.0), 4),
        device=str(getattr(backend, "device", device)), n_frames=len(frames), n_iterations=len(iterations),
        mean_iteration_s=mean_or_none(secs), mask_area_mean=mean_or_none(areas), consecutive_iou_mean=mean_or_none(consec),
        final_iou=mean_or_none(gt_ious),
    )


def _run_objects(
    session: Session, backend: ReplayBackend, n_frames: int, spec: ModelVersion | None, progress: ProgressFn | None,
) -> dict[int, _ObjectRun]:
    """Every object's replay, ascending ids; several objects need ``backend.start_object``."""
    ids = session.object_ids
    start_object = getattr(backend, "start_object", None)
    if len(ids) > 1 and start_object is None:
        raise JobError(f"session {session.session_id} has objects {ids} but backend {type(backend).__name__} "
                       "segments one object only (it has no start_object)")
    total = sum(_units(session, k) for k in ids)
    runs: dict[int, _ObjectRun] = {}
    done = 0
    for k in ids:
        if len(ids) > 1:
            start_object(k)
        runs[k] = _replay_object(session, backend, k, n_frames, spec, progress, (done, total), len(ids) > 1)
        done = runs[k].run.done_units
    return runs


def _assemble(
    session: Session, runs: dict[int, _ObjectRun], n: int, shape: tuple[int, int], gt: list[np.ndarray | None] | None,
) -> tuple[list[np.ndarray] | None, list[np.ndarray], list[float], list[dict[str, Any]], list[dict[str, Any]]]:
    """The job's label maps (None with one object), masks, confidences, frame rows and object rows.

    Several objects: a frame's confidence is the mean of its objects', and its ``iou_gt`` the mean
    of its objects' IoUs (DAVIS J, averaged over objects) where every object has ground truth there.
    """
    ids = session.object_ids
    if len(ids) == 1:
        labels, masks, conf = None, runs[ids[0]].masks, runs[ids[0]].conf
        masks_of: Any = lambda _k: masks  # noqa: E731 - one object: its masks are the job's
    else:
        merger = _merge(session, runs, shape, n)
        labels, masks, masks_of = merger.labels, [lab > 0 for lab in merger.labels], merger.masks_of
        conf = [float(np.mean([r.conf[i] for r in runs.values()])) for i in range(n)]
    objects = _object_rows(session, runs, masks_of, gt, shape[0] * shape[1])
    annotated = {i for r in runs.values() for i in r.run.annotated}
    gt_one = None if gt is None or labels is not None else [None if g is None else g == ids[0] for g in gt]
    frames = score_frames(masks, conf, annotated, gt_one)
    if labels is not None and gt is not None:
        for f in frames:
            per = [o["frames"][f["frame_index"]].get("iou_gt") for o in objects]
            if all(v is not None for v in per):
                f["iou_gt"] = float(np.mean(per))
    return labels, masks, conf, frames, objects


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
    not match the session's recorded geometry (or a one-object backend meets several objects).
    """
    t_start = time.perf_counter()
    video_path, src = _open_video(session, video_roots)
    if backend is None:
        if spec is None:
            raise ValueError("replay_session needs a backend or a model spec")
        backend = VideoSegmenterBackend(spec, device=device)
    backend.open(video_path)
    timings = {"open_s": time.perf_counter() - t_start}
    n, (w, h) = len(src), (src.width, src.height)
    runs = _run_objects(session, backend, n, spec, progress)
    for r in runs.values():
        for key, v in r.run.timings.items():
            timings[key] = timings.get(key, 0.0) + v
    labels, masks, conf, frames, objects = _assemble(session, runs, n, (h, w), load_ground_truth_labels(video_path, n))
    timings["total_s"] = time.perf_counter() - t_start
    video = {"uri": session.video.uri, "path": str(video_path), "n_frames": n, "width": w, "height": h}
    return ReplayResult(
        session_id=session.session_id, model_version=backend.version, video_path=video_path,
        fps=float(session.video.fps or getattr(src, "fps", 24.0) or 24.0), masks=masks,
        record=_record(session, runs, frames, conf, objects, video, spec, backend, device, timings),
        labels=labels, object_ids=session.object_ids,
    )
