"""Replay a logged session: the compute of a ``segment-video`` job, without Prefect.

Order (the paper's interactive video workflow, DESIGN "Jobs"):

1. first frame: each logged iteration runs the interactive model with the inputs given so far
   (cumulative, as the user saw them) on the previous iteration's mask (none for the first);
2. the final first-frame mask becomes OSVOS's training frame: fine-tune, propagate;
3. each refinement frame (in logged order): its iterations run on the *propagated* mask of that
   frame; the corrected mask is added as a training frame, OSVOS is fine-tuned again and the video
   re-propagated (progressive refinement); annotated frames keep their user-corrected masks.

The model work goes through a small :class:`ReplayBackend` so the sequence above can be tested
with a stand-in; :class:`VideoSegmenterBackend` (the default) adapts
:class:`ivos_core.video.VideoSegmenter`; :class:`DirectBackend` does the same with the segmenter
and :func:`ivos_core.osvos_training.finetune` directly (fallback; same results on the tests).

Outputs (:func:`write_outputs`) go to ``<out>/<model_version>/<session_id>/``: ``masks/%05d.png``
(DAVIS palette), ``masks_rle.json``, ``sticker.apng`` (+ ``sticker.webp`` when Pillow has WebP),
``sticker.gif``, ``overlay.mp4`` (or ``.gif``), ``results.json`` and a ``DONE`` marker. The whole
folder is assembled in ``<out>/<model_version>/.tmp-<session_id>-<uuid>`` and renamed into place,
so a reader sees all of it or nothing; a job whose ``DONE`` exists does no work.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol, Sequence

import numpy as np

from ivos_core.interactions import Click, Session, Stroke
from ivos_core.metrics import iou
from ivos_core.paths import resolve_video_ref
from ivos_core.utils import file_sha256, safe_name

__all__ = [
    "FrameOut",
    "ReplayBackend",
    "DirectBackend",
    "VideoSegmenterBackend",
    "simulate_session",
    "ModelSpec",
    "resolve_model",
    "ReplayResult",
    "replay_session",
    "write_outputs",
    "output_dir",
    "is_done",
    "load_ground_truth",
    "JobError",
]

ProgressFn = Callable[[int, int, str], None]
DONE = "DONE"
RESULTS = "results.json"
# InteractiveSegmenter options a model version may set (model.json "interactive_options")
INTERACTIVE_OPTIONS = ("crf", "crf_mode", "colour_weight", "keep_clicked", "flip_tta", "threshold", "zoom_in")


class JobError(RuntimeError):
    """A job cannot run (no checkpoint, unreadable video...); the message says what to fix."""


@dataclass
class FrameOut:
    """One propagated frame: ``mask`` (H, W) bool and a confidence in [0, 1]."""

    index: int
    mask: np.ndarray
    confidence: float


class ReplayBackend(Protocol):
    """What a replay needs from the models."""

    version: str

    def open(self, source: Path) -> None: ...

    def interact(self, frame_index: int, inputs: list[Click | Stroke], prev_mask: np.ndarray | None) -> np.ndarray:
        """One refinement iteration on a frame: ``(H, W)`` bool mask."""

    def add_annotation(self, frame_index: int, mask: np.ndarray) -> None:
        """Use ``mask`` as the ground truth of ``frame_index`` for fine-tuning."""

    def fit(self, steps: int) -> None: ...

    def propagate(self) -> Iterator[FrameOut]: ...


# ----------------------------------------------------------------------------------- models
@dataclass(frozen=True)
class ModelSpec:
    """A named model version: interactive checkpoint + OSVOS config/parent + fine-tuning budget."""

    name: str
    interactive_checkpoint: Path | None
    osvos: str = "lite"
    osvos_checkpoint: Path | None = None
    finetune_steps: int = 500
    refine_steps: int | None = None  # fine-tuning steps after each refinement frame (default: half)
    interactive: str = "deep"  # "deep" (the checkpoint) or "grabcut" (the classical baseline, no weights)
    # InteractiveSegmenter options of the deep model, e.g. {"crf": true, "colour_weight": 0.5,
    # "keep_clicked": true} (model.json "interactive_options"); part of the version when set
    interactive_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.interactive_options) - set(INTERACTIVE_OPTIONS)
        if unknown:
            raise JobError(
                f"model {self.name!r}: unknown interactive_options {sorted(unknown)}; "
                f"allowed: {', '.join(INTERACTIVE_OPTIONS)}"
            )

    @property
    def version(self) -> str:
        """``<name>-<8 hex>``: the hash covers weights, OSVOS config and step budgets."""
        h = hashlib.sha256()
        for p in (self.interactive_checkpoint, self.osvos_checkpoint):
            if p is None:
                h.update(b"-")
                continue
            for f in _checkpoint_files(Path(p)):
                h.update(f.name.encode())
                h.update(bytes.fromhex(file_sha256(f)))
        h.update(f"{self.interactive}|{self.osvos}|{self.finetune_steps}|{self.refine_steps}".encode())
        if self.interactive_options:  # absent options keep the versions of older outputs
            h.update(json.dumps(self.interactive_options, sort_keys=True).encode())
        return f"{self.name}-{h.hexdigest()[:8]}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "interactive": self.interactive,
            "interactive_checkpoint": str(self.interactive_checkpoint) if self.interactive_checkpoint else None,
            "osvos": self.osvos,
            "osvos_checkpoint": str(self.osvos_checkpoint) if self.osvos_checkpoint else None,
            "finetune_steps": self.finetune_steps,
            "refine_steps": self.refine_steps,
            "interactive_options": dict(self.interactive_options),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelSpec":
        """The inverse of :meth:`to_dict` (flows pass specs between tasks as plain dicts)."""
        return cls(
            name=d["name"],
            interactive_checkpoint=Path(d["interactive_checkpoint"]) if d.get("interactive_checkpoint") else None,
            osvos=d["osvos"],
            osvos_checkpoint=Path(d["osvos_checkpoint"]) if d.get("osvos_checkpoint") else None,
            finetune_steps=int(d["finetune_steps"]),
            refine_steps=d.get("refine_steps"),
            interactive=d.get("interactive", "deep"),
            interactive_options=dict(d.get("interactive_options") or {}),
        )


def _checkpoint_files(p: Path) -> list[Path]:
    if p.is_file():
        base = p.with_suffix("") if p.suffix in (".safetensors", ".json") else p
    else:
        base = p
    cands = [base.with_name(base.name + s) for s in (".safetensors", ".json")] + [p]
    return sorted({c for c in cands if c.is_file()})


def _find_checkpoint(folder: Path, stem: str) -> Path | None:
    for cand in (folder / f"{stem}.safetensors", folder / f"{stem}.json"):
        if cand.is_file():
            return cand.with_suffix("")
    hits = sorted(folder.glob(f"{stem}*.safetensors"))
    hits = [h for h in hits if not h.name.endswith(".state.safetensors")]
    return hits[-1].with_suffix("") if hits else None


def default_models_dir() -> Path:
    home = os.environ.get("IVOS_HOME")
    return Path(home) / "models" if home else Path("outputs") / "models"


def resolve_model(
    name: str = "lite",
    *,
    models_dir: str | Path | None = None,
    interactive_checkpoint: str | Path | None = None,
    interactive: str | None = None,
    osvos: str | None = None,
    osvos_checkpoint: str | Path | None = None,
    finetune_steps: int | None = None,
    refine_steps: int | None = None,
) -> ModelSpec:
    """Resolve a model name to checkpoints.

    ``<models_dir>/<name>/`` (default ``$IVOS_HOME/models`` or ``outputs/models``) may hold
    ``interactive.safetensors`` (+ ``.json``), ``osvos_parent.safetensors`` and ``model.json``
    (``{"osvos": "lite"}``); explicit arguments win. Without an interactive checkpoint the job
    cannot run: :class:`JobError` says where it looked and how to get one.
    """
    folder = Path(models_dir) if models_dir else default_models_dir()
    mdir = folder / name
    meta: dict[str, Any] = {}
    if (mdir / "model.json").is_file():
        meta = json.loads((mdir / "model.json").read_text())
    method = str(interactive or meta.get("interactive") or "deep")
    if method not in ("deep", "grabcut"):
        raise JobError(f"unknown interactive method {method!r}; expected 'deep' (a checkpoint) or 'grabcut'")
    inter = Path(interactive_checkpoint) if interactive_checkpoint else (_find_checkpoint(mdir, "interactive") if mdir.is_dir() else None)
    if method == "grabcut":
        inter = None
    elif inter is None:
        raise JobError(
            f"model {name!r} has no interactive checkpoint: looked for {mdir}/interactive.safetensors; "
            "train one (`ivos train interactive`) and copy it there, or pass --interactive-checkpoint PATH"
        )
    if inter is not None and not _checkpoint_files(inter):
        raise JobError(f"interactive checkpoint {inter} not found (expected {inter}.safetensors + .json)")
    par = Path(osvos_checkpoint) if osvos_checkpoint else (_find_checkpoint(mdir, "osvos_parent") if mdir.is_dir() else None)
    cfg = osvos or meta.get("osvos") or (name if name in ("lite", "paper") else "lite")
    return ModelSpec(
        name=name,
        interactive_checkpoint=inter,
        osvos=str(cfg),
        osvos_checkpoint=par,
        finetune_steps=int(finetune_steps if finetune_steps is not None else meta.get("finetune_steps", 500)),
        refine_steps=refine_steps if refine_steps is not None else meta.get("refine_steps"),
        interactive=method,
        interactive_options=dict(meta.get("interactive_options") or {}),
    )


class DirectBackend:
    """The replay backend built from the library's parts: :class:`InteractiveSegmenter` for the
    iterations, :func:`ivos_core.osvos_training.finetune` for one-shot fine-tuning (continued
    from the current weights on every re-fit, as progressive refinement does) and a per-frame
    OSVOS forward pass for propagation. Confidence of a frame: mean ``|2p - 1|`` over its pixels.
    """

    def __init__(self, spec: ModelSpec, *, device: str = "auto", segmenter: Any = None, osvos_model: Any = None) -> None:
        from ivos_core.osvos_training import resolve_device

        if segmenter is None and spec.interactive == "grabcut":
            from ivos_core.methods import GrabCutMethod

            segmenter = GrabCutMethod()
        if segmenter is None:
            from ivos_core.segmenter import InteractiveSegmenter

            try:
                segmenter = InteractiveSegmenter.from_checkpoint(
                    spec.interactive_checkpoint, device=device, **spec.interactive_options
                )
            except (ValueError, OSError) as exc:
                raise JobError(f"cannot load interactive checkpoint {spec.interactive_checkpoint}: {exc}") from exc
        self.version = spec.version
        self.spec = spec
        self.seg = segmenter
        self.osvos = osvos_model if osvos_model is not None else _load_osvos(spec)
        self.device = resolve_device(device)
        self._frames: list[np.ndarray] = []
        self._ann: dict[int, np.ndarray] = {}
        self._image_index: int | None = None

    def open(self, source: Path) -> None:
        from ivos_core.data.video import open_video

        self._frames = list(open_video(source))
        self._ann.clear()
        self._image_index = None

    def interact(self, frame_index: int, inputs: list[Click | Stroke], prev_mask: np.ndarray | None) -> np.ndarray:
        if self._image_index != frame_index:
            self.seg.set_image(self._frames[frame_index])
            self._image_index = frame_index
        out = self.seg.predict(list(inputs), prev_mask)
        return np.asarray(getattr(out, "mask", out), dtype=bool)

    def add_annotation(self, frame_index: int, mask: np.ndarray) -> None:
        self._ann[frame_index] = np.asarray(mask, dtype=bool)

    def fit(self, steps: int) -> None:
        from ivos_core.osvos_training import finetune

        idx = sorted(self._ann)
        try:
            finetune(self.osvos, [self._frames[i] for i in idx], [self._ann[i] for i in idx], steps=steps, device=self.device)
        except ValueError as exc:
            raise JobError(f"fine-tuning failed: {exc}") from exc

    def propagate(self) -> Iterator[FrameOut]:
        import torch

        self.osvos.eval().to(self.device)
        with torch.inference_mode():
            for i, f in enumerate(self._frames):
                x = torch.from_numpy(np.array(f, copy=True)).permute(2, 0, 1)[None].float().div_(255.0).to(self.device)
                p = torch.sigmoid(self.osvos(x))[0, 0].float().cpu().numpy()
                yield FrameOut(i, p >= 0.5, float(np.abs(2.0 * p - 1.0).mean()))


class VideoSegmenterBackend:
    """Adapter from :class:`ivos_core.video.VideoSegmenter` to :class:`ReplayBackend`.

    Each iteration is one ``annotate`` call with the cumulative inputs and the previous mask;
    ``fit`` restarts from the parent network (OSVOS) with all annotated frames.
    """

    def __init__(self, spec: ModelSpec, *, device: str = "auto", segmenter: Any = None) -> None:
        from ivos_core.video import VideoSegmenter

        self.version = spec.version
        self.spec = spec
        seg = segmenter if segmenter is not None else _build_interactive(spec, device)
        self.vs = VideoSegmenter(_load_osvos(spec), interactive=seg, device=device, finetune_steps=max(0, spec.finetune_steps))

    def open(self, source: Path) -> None:
        self.vs.open(source)

    def interact(self, frame_index: int, inputs: list[Click | Stroke], prev_mask: np.ndarray | None) -> np.ndarray:
        return np.asarray(self.vs.annotate(frame_index, [list(inputs)], prev_mask=prev_mask, allow_empty=True), dtype=bool)

    def add_annotation(self, frame_index: int, mask: np.ndarray) -> None:
        self.vs.set_mask(frame_index, mask, allow_empty=True)

    def fit(self, steps: int) -> None:
        self.vs.fit(steps=steps)

    def propagate(self) -> Iterator[FrameOut]:
        for fr in self.vs.propagate():
            yield FrameOut(int(fr.index), np.asarray(fr.mask, dtype=bool), float(fr.confidence))


def _build_interactive(spec: ModelSpec, device: str) -> Any:
    if spec.interactive == "grabcut":
        from ivos_core.methods import GrabCutMethod

        return GrabCutMethod()
    from ivos_core.segmenter import InteractiveSegmenter

    try:
        return InteractiveSegmenter.from_checkpoint(spec.interactive_checkpoint, device=device, **spec.interactive_options)
    except (ValueError, OSError) as exc:
        raise JobError(f"cannot load interactive checkpoint {spec.interactive_checkpoint}: {exc}") from exc


def _load_osvos(spec: ModelSpec):
    from ivos_core.models.osvos import build_osvos

    if spec.osvos_checkpoint is None:
        return build_osvos(spec.osvos)
    try:
        from ivos_core.osvos_training import load_parent

        return load_parent(spec.osvos_checkpoint)
    except Exception:  # a plain state-dict file
        return build_osvos(spec.osvos, pretrained=spec.osvos_checkpoint)


# ----------------------------------------------------------------------------------- replay
@dataclass
class ReplayResult:
    """Masks of every frame plus the results record (JSON-able)."""

    session_id: str
    model_version: str
    video_path: Path
    fps: float
    masks: list[np.ndarray]
    record: dict[str, Any] = field(default_factory=dict)


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


def replay_session(
    session: Session,
    *,
    video_roots: Sequence[str | Path] | None,
    backend: ReplayBackend | None = None,
    spec: ModelSpec | None = None,
    device: str = "auto",
    progress: ProgressFn | None = None,
) -> ReplayResult:
    """Replay ``session``; see the module docstring for the order. Either ``backend`` (tests,
    custom models) or ``spec`` (builds :class:`VideoSegmenterBackend`) must be given.

    Raises :class:`ivos_core.paths.UnsafePathError` / ``FileNotFoundError`` for a bad video
    reference (the message names the uri and the roots) and :class:`JobError` when the video does
    not match the session's recorded geometry.
    """
    from ivos_core.data.video import open_video

    t_start = time.perf_counter()
    video_path = resolve_video_ref(session.video.uri, video_roots)
    src = open_video(video_path, fps=session.video.fps or 24.0)
    if (src.width, src.height) != (session.video.width, session.video.height):
        raise JobError(
            f"video {video_path} is {src.width}x{src.height} but session {session.session_id} was recorded "
            f"on {session.video.width}x{session.video.height}; its clicks would land in the wrong place"
        )
    n = len(src)
    if backend is None:
        if spec is None:
            raise ValueError("replay_session needs a backend or a model spec")
        try:
            backend = VideoSegmenterBackend(spec, device=device)
        except ImportError:  # a partial install without ivos_core.video
            backend = DirectBackend(spec, device=device)
    steps = spec.finetune_steps if spec else 0
    refine_steps = (spec.refine_steps if spec and spec.refine_steps is not None else max(1, steps // 2)) if spec else 0
    backend.open(video_path)
    timings: dict[str, float] = {"open_s": time.perf_counter() - t_start}
    total_units = 2 + 2 * len(session.refinement_frames)
    done_units = 0

    def tick(label: str) -> None:
        nonlocal done_units
        done_units += 1
        if progress:
            progress(done_units, total_units, label)

    iterations: list[dict[str, Any]] = []

    def run_frame(fr, start_mask: np.ndarray | None) -> np.ndarray:
        prev = start_mask
        cum: list[Click | Stroke] = []
        for it in fr.iterations:
            cum.extend(it.inputs)
            t0 = time.perf_counter()
            m = np.asarray(backend.interact(fr.frame_index, list(cum), prev), dtype=bool)
            dt = time.perf_counter() - t0
            iterations.append(
                {
                    "frame_index": fr.frame_index,
                    "stage": fr.stage,
                    "iteration": it.index,
                    "n_inputs": len(it.inputs),
                    "mask_area": int(m.sum()),
                    "iou_prev": _iou_or_none(m, prev),
                    "seconds": round(dt, 4),
                }
            )
            prev = m
        assert prev is not None
        return prev

    annotated: dict[int, np.ndarray] = {}
    t0 = time.perf_counter()
    first = session.first_frame
    annotated[first.frame_index] = run_frame(first, None)
    timings["first_frame_s"] = time.perf_counter() - t0
    tick("first frame")

    def fit_and_propagate(n_steps: int) -> tuple[list[np.ndarray], list[float]]:
        for idx, m in annotated.items():
            backend.add_annotation(idx, m)
        t1 = time.perf_counter()
        backend.fit(n_steps)
        timings["fit_s"] = timings.get("fit_s", 0.0) + time.perf_counter() - t1
        t1 = time.perf_counter()
        masks: list[np.ndarray | None] = [None] * n
        conf = [0.0] * n
        for fo in backend.propagate():
            if 0 <= fo.index < n:
                masks[fo.index] = np.asarray(fo.mask, dtype=bool)
                conf[fo.index] = float(fo.confidence)
        timings["propagate_s"] = timings.get("propagate_s", 0.0) + time.perf_counter() - t1
        missing = [i for i, m in enumerate(masks) if m is None and i not in annotated]
        if missing:
            raise JobError(f"propagation returned no mask for frames {missing[:10]}")
        for idx, m in annotated.items():
            masks[idx] = m
            conf[idx] = 1.0
        return [m for m in masks if m is not None], conf

    masks, conf = fit_and_propagate(steps)
    tick("propagated")
    t0 = time.perf_counter()
    for fr in session.refinement_frames:
        annotated[fr.frame_index] = run_frame(fr, masks[fr.frame_index])
        tick(f"refined frame {fr.frame_index}")
        masks, conf = fit_and_propagate(refine_steps)  # progressive refinement
        tick(f"re-propagated after frame {fr.frame_index}")
    timings["refinement_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - t_start

    gt = load_ground_truth(video_path, n)
    frames_rec = []
    for i, m in enumerate(masks):
        rec = {
            "frame_index": i,
            "annotated": i in annotated,
            "confidence": round(conf[i], 4),
            "mask_area": int(m.sum()),
            "iou_prev_frame": _iou_or_none(m, masks[i - 1]) if i > 0 else None,
        }
        if gt is not None and i < len(gt) and gt[i] is not None:
            rec["iou_gt"] = float(iou(m, gt[i]))
        frames_rec.append(rec)
    gt_ious = [f["iou_gt"] for f in frames_rec if "iou_gt" in f]
    record = {
        "schema": "ivos-job-results/1",
        "session_id": session.session_id,
        "user_id": session.user_id,
        "model_version": backend.version,
        "model": spec.to_dict() if spec else {"version": backend.version},
        "video": {"uri": session.video.uri, "path": str(video_path), "n_frames": n, "width": src.width, "height": src.height},
        "iterations": iterations,
        "frames": frames_rec,
        "summary": {
            "n_iterations": len(iterations),
            "n_annotated_frames": len(annotated),
            "mean_confidence": float(np.mean(conf)) if conf else None,
            "mean_iou_gt": float(np.mean(gt_ious)) if gt_ious else None,
        },
        "timings": {k: round(v, 4) for k, v in timings.items()},
        "host": socket.gethostname(),
        "finished_at": datetime.now(timezone.utc).isoformat(),
    }
    # flat columns of the analytics job-results contract (analytics.results.JOB_COLUMNS)
    areas = [f["mask_area"] / float(max(1, src.width * src.height)) for f in frames_rec]
    consec = [f["iou_prev_frame"] for f in frames_rec if f["iou_prev_frame"] is not None]
    secs = [it["seconds"] for it in iterations if it.get("seconds") is not None]
    record.update(
        status="ok",
        runtime_s=round(timings.get("total_s", 0.0), 4),
        device=str(getattr(backend, "device", device)),
        n_frames=n,
        n_iterations=len(iterations),
        mean_iteration_s=float(np.mean(secs)) if secs else None,
        mask_area_mean=float(np.mean(areas)) if areas else None,
        consecutive_iou_mean=float(np.mean(consec)) if consec else None,
        final_iou=record["summary"]["mean_iou_gt"],
    )
    return ReplayResult(
        session_id=session.session_id,
        model_version=backend.version,
        video_path=video_path,
        fps=float(session.video.fps or getattr(src, "fps", 24.0) or 24.0),
        masks=masks,
        record=record,
    )


# ----------------------------------------------------------------------------------- outputs
def output_dir(out: str | Path, session_id: str, model_version: str) -> Path:
    """``<out>/<model_version>/<session_id>`` (names made filesystem-safe)."""
    return Path(out) / safe_name(model_version) / safe_name(session_id)


def is_done(out: str | Path, session_id: str, model_version: str) -> bool:
    d = output_dir(out, session_id, model_version)
    return (d / DONE).is_file() and (d / RESULTS).is_file()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_stale_tmp(parent: Path, session_id: str, *, max_age_s: float = 3600.0) -> list[Path]:
    """Remove ``.tmp-<session>-*`` folders left by killed jobs (dead owner pid on this host, or
    older than ``max_age_s`` elsewhere)."""
    removed = []
    host = socket.gethostname()
    for d in parent.glob(f".tmp-{safe_name(session_id)}-*"):
        try:
            owner = json.loads((d / ".owner").read_text())
        except (OSError, ValueError):
            owner = {}
        dead = owner.get("host") == host and not _pid_alive(int(owner.get("pid", 0)) or 1 << 22)
        old = time.time() - d.stat().st_mtime > max_age_s
        if dead or old:
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


def write_outputs(result: ReplayResult, out: str | Path, *, frames: Iterable[np.ndarray] | None = None) -> Path:
    """Write the job's folder atomically; returns it. A finished folder is left untouched."""
    from ivos_core.data.video import open_video
    from ivos_core.export import rle_encode, write_mask_png, write_overlay_preview, write_sticker

    final = output_dir(out, result.session_id, result.model_version)
    if is_done(out, result.session_id, result.model_version):
        return final
    parent = final.parent
    parent.mkdir(parents=True, exist_ok=True)
    _clean_stale_tmp(parent, result.session_id)
    tmp = parent / f".tmp-{safe_name(result.session_id)}-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    (tmp / ".owner").write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))
    try:
        t0 = time.perf_counter()
        if frames is None:
            frames = list(open_video(result.video_path, fps=result.fps))
        frames = list(frames)
        (tmp / "masks").mkdir()
        for i, m in enumerate(result.masks):
            write_mask_png(tmp / "masks" / f"{i:05d}.png", m)
        (tmp / "masks_rle.json").write_text(json.dumps([rle_encode(m) for m in result.masks]))
        stickers = write_sticker(tmp / "sticker", frames, result.masks, fps=result.fps)
        preview = write_overlay_preview(tmp / "overlay.mp4", frames, result.masks, fps=result.fps)
        rec = dict(result.record)
        rec["files"] = {
            "masks": "masks/",
            "rle": "masks_rle.json",
            **{f"sticker_{k}": p.name for k, p in stickers.items()},
            "overlay": preview.name,
        }
        rec.setdefault("timings", {})["write_s"] = round(time.perf_counter() - t0, 4)
        (tmp / RESULTS).write_text(json.dumps(rec, indent=2))
        (tmp / ".owner").unlink()
        (tmp / DONE).write_text(datetime.now(timezone.utc).isoformat() + "\n")
        try:
            os.rename(tmp, final)
        except OSError:
            if is_done(out, result.session_id, result.model_version):
                shutil.rmtree(tmp, ignore_errors=True)  # another run finished first: keep its output
                return final
            if final.exists():  # an incomplete folder from an older layout: replace it
                shutil.rmtree(final)
                os.rename(tmp, final)
            else:
                raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


# ----------------------------------------------------------------------------------- sessions
def simulate_session(
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
    from ivos_core.interactions import AnnotatedFrame, Interaction, VideoRef
    from ivos_core.simulation import RobotUser

    def frame_iters(idx: int, n: int, stage: str) -> AnnotatedFrame:
        gt = np.asarray(gt_masks[idx], dtype=bool)
        robot = RobotUser(gt)
        pred = np.zeros_like(gt)
        its = []
        for k in range(n):
            c = robot.next_click(pred)
            if c is None:
                break
            its.append(Interaction(index=len(its), inputs=[c], duration_s=1.0))
            yy, xx = np.ogrid[: gt.shape[0], : gt.shape[1]]
            disk = (yy - c.y) ** 2 + (xx - c.x) ** 2 <= (0.15 * min(gt.shape)) ** 2
            pred = (pred | (disk & gt)) if c.positive else (pred & ~disk)
        if not its:
            raise ValueError(f"frame {idx}: the robot found nothing to click (empty ground truth?)")
        return AnnotatedFrame(frame_index=idx, stage=stage, iterations=its)

    h, w = np.asarray(gt_masks[0]).shape
    frames = [frame_iters(0, clicks_first, "first_frame")] + [frame_iters(i, clicks_refine, "refinement") for i in refine_frames]
    return Session(
        session_id=session_id,
        user_id=user_id,
        created_at=datetime.now(timezone.utc),
        video=VideoRef(uri=uri, width=int(w), height=int(h), n_frames=len(gt_masks), fps=fps),
        frames=frames,
        source="simulated",
    )
