"""One open video in the annotation app: clicks through the interactive model, propagation,
worst frames, refinement. Plain Python (no HTTP); the web app calls it from its handlers.

* :class:`SharedMethod`: one interactive model shared by all open videos (a lock, and the image
  it was last given, so ``set_image`` runs only when the (video, frame) changes);
* :class:`Workspace`: a video opened from a path, its :class:`~ivos_core.annotation.record.
  AnnotationRecord`, and a :class:`~ivos_core.video.VideoSegmenter` (used as a black box: its
  public ``open`` / ``set_mask`` / ``remove_annotation`` / ``fit`` / ``propagate`` /
  ``worst_frames``) that fine-tunes OSVOS on the annotated frames and propagates, reporting
  progress as it goes. Propagation runs in a background thread (:meth:`Workspace.start_propagation`);
  while it runs, changes are refused with :class:`WorkspaceBusy`.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ivos_core.annotation.record import AnnotationError, AnnotationRecord, pack_mask, unpack_mask
from ivos_core.interactions import Click, Session, Stroke, VideoRef

__all__ = ["ModelFailure", "SharedMethod", "Workspace", "WorkspaceBusy", "build_method", "build_video_segmenter"]


class WorkspaceBusy(AnnotationError):
    """A propagation is running on this video; try again when it has finished."""

    def __init__(self, message: str) -> None:
        super().__init__(message, conflict=True)


class ModelFailure(RuntimeError):
    """The model raised while segmenting; nothing was recorded (the app answers 500)."""


class SharedMethod:
    """An interactive method (``set_image`` + ``predict(inputs, prev_mask)``) shared by workspaces."""

    def __init__(self, method: Any, name: str = "model") -> None:
        self.method = method
        self.name = name
        self.lock = threading.Lock()
        self._key: tuple[int, int] | None = None

    def prepare(self, key: tuple[int, int], image: Callable[[], np.ndarray]) -> None:
        with self.lock:
            self._prepare(key, image)

    def _prepare(self, key: tuple[int, int], image: Callable[[], np.ndarray]) -> None:
        if self._key != key:
            self._key = None
            self.method.set_image(image())
            self._key = key

    def predict(self, key: tuple[int, int], image: Callable[[], np.ndarray], inputs: list, prev: np.ndarray | None) -> np.ndarray:
        with self.lock:
            try:
                self._prepare(key, image)
                out = self.method.predict(inputs, prev)
            except Exception as exc:  # any model crash: reported, the app keeps serving
                self._key = None
                raise ModelFailure(f"{self.name} failed: {type(exc).__name__}: {exc}") from exc
        return np.asarray(getattr(out, "mask", out), dtype=bool)


def build_method(spec: Any, *, device: str = "cpu", **overrides: Any) -> Any:
    """The interactive method of a :class:`ivos_core.jobs.ModelVersion` (the job's model), with
    ``overrides`` of its ``interactive_options`` (e.g. ``crf=True, crf_mode="fast"``)."""
    from ivos_core.jobs import load_interactive

    if not overrides or spec.interactive == "grabcut":
        return load_interactive(spec, device)
    from ivos_core.interactive.segmenter import InteractiveSegmenter

    return InteractiveSegmenter.from_checkpoint(spec.interactive_checkpoint, device=device,
                                                **{**spec.interactive_options, **overrides})


def build_video_segmenter(spec: Any, *, device: str = "cpu", finetune_steps: int | None = None) -> Any:
    """A :class:`~ivos_core.video.VideoSegmenter` with the model version's OSVOS parent (as the job
    builds it)."""
    from ivos_core.jobs import load_osvos
    from ivos_core.video import VideoSegmenter

    steps = spec.finetune_steps if finetune_steps is None else finetune_steps
    return VideoSegmenter(load_osvos(spec), device=device, finetune_steps=max(0, int(steps)))


_ids = iter(range(1, 1 << 62))
_ids_lock = threading.Lock()


class Workspace:
    """A video being annotated. ``video_path``: a resolved path (caller checked the roots);
    ``uri``: what the session log records. ``video_segmenter``: a factory of VideoSegmenters."""

    def __init__(
        self,
        video_path: str | Path,
        uri: str,
        *,
        method: SharedMethod,
        video_segmenter: Callable[[], Any],
        fps: float | None = None,
        dataset: str | None = None,
        sequence: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from ivos_core.data.video import VideoError, open_video

        self.path = Path(video_path)
        self.uri = uri
        try:
            self.source = open_video(self.path, fps=fps or 24.0)
        except (VideoError, OSError) as exc:
            raise AnnotationError(f"cannot open video {uri!r}: {getattr(exc, 'reason', exc)}") from exc
        self.width, self.height, self.n_frames = int(self.source.width), int(self.source.height), int(self.source.n_frames)
        self.fps = float(getattr(self.source, "fps", None) or fps or 24.0)
        self.dataset, self.sequence = dataset, sequence
        self.record = AnnotationRecord(self.width, self.height, self.n_frames, clock=clock)
        self.method = method
        self._vs_factory = video_segmenter
        self._vs: Any = None
        with _ids_lock:
            self._id = next(_ids)
        self.lock = threading.RLock()
        self._cache: tuple[int, np.ndarray] | None = None
        self.propagated: dict[int, tuple[bytes, tuple[int, int]]] = {}
        self.confidence: dict[int, float] = {}
        self.round = 0
        self._propagated_version: int | None = None
        self._thread: threading.Thread | None = None
        self.progress: dict[str, Any] = {"state": "idle", "phase": "", "done": 0, "total": 0, "round": 0, "error": None}

    # ---- frames --------------------------------------------------------------------------------
    def frame(self, i: int) -> np.ndarray:
        i = self.record.check_index(i)
        if self._cache is not None and self._cache[0] == i:
            return self._cache[1]
        from ivos_core.data.video import VideoError

        try:
            f = np.asarray(self.source.read(i))
        except (VideoError, OSError, IndexError) as exc:
            raise AnnotationError(f"frame {i} of {self.uri!r} cannot be read: {exc}") from exc
        self._cache = (i, f)
        return f

    def select(self, i: int) -> None:
        """The person is looking at frame ``i``: prepare the model and start its iteration clock."""
        i = self.record.check_index(i)
        self.method.prepare((self._id, i), lambda: self.frame(i))
        self.record.mark_ready(i)

    def mask(self, i: int) -> np.ndarray | None:
        """The mask shown on frame ``i``: its annotation, else its propagated mask, else None."""
        i = self.record.check_index(i)
        m = self.record.mask(i)
        if m is None and i in self.propagated:
            m = unpack_mask(self.propagated[i])
        return m

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def stale(self) -> bool:
        """Annotations changed since the last propagation."""
        return self._propagated_version is not None and self._propagated_version != self.record.version

    def _check_idle(self) -> None:
        if self.busy:
            raise WorkspaceBusy("propagation is running on this video; wait for it to finish")

    # ---- interaction ---------------------------------------------------------------------------
    def interact(self, frame_index: int, inputs: Sequence[Click | Stroke]) -> np.ndarray:
        """One iteration on ``frame_index`` with the new ``inputs``; returns the mask."""
        given_at = self.record.now()
        with self.lock:
            self._check_idle()
            i = self.record.check_index(frame_index)
            self.record.check_inputs(inputs)
            propagated = unpack_mask(self.propagated[i]) if i in self.propagated else None
            so_far, prev = self.record.plan(i, propagated, self.round)
            mask = self.method.predict((self._id, i), lambda: self.frame(i), so_far + list(inputs), prev)
            if mask.shape != (self.height, self.width):
                raise ModelFailure(f"{self.method.name} returned a {mask.shape} mask for a {self.width}x{self.height} frame")
            self.record.add_iteration(i, inputs, mask, given_at=given_at, propagated=propagated, round_=self.round)
            return mask

    def undo(self, frame_index: int) -> np.ndarray | None:
        with self.lock:
            self._check_idle()
            i = self.record.check_index(frame_index)
            self.record.undo(i)
            return self.mask(i)

    def reset(self, frame_index: int) -> np.ndarray | None:
        with self.lock:
            self._check_idle()
            i = self.record.check_index(frame_index)
            self.record.reset(i)
            return self.mask(i)

    # ---- propagation ---------------------------------------------------------------------------
    def _set(self, **kw: Any) -> None:
        self.progress = {**self.progress, **kw}

    def propagate(self, steps: int | None = None) -> None:
        """Fine-tune OSVOS on the annotated frames and propagate (synchronously), updating
        :attr:`progress`. Errors are stored in ``progress["error"]`` and raised."""
        with self.lock:
            annotated = {i: self.record.mask(i) for i in self.record.annotated()}
            version = self.record.version
        if not annotated:
            raise AnnotationError("nothing to propagate: annotate the first frame first", conflict=True)
        try:
            if self._vs is None:
                self._set(state="running", phase="loading", done=0, total=0, error=None)
                vs = self._vs_factory()
                vs.open(self.path, name=self.uri, fps=self.fps)
                self._vs = vs
            vs = self._vs
            for j in list(vs.state.annotated_frames):
                if j not in annotated:
                    vs.remove_annotation(j)
            for j, m in annotated.items():
                vs.set_mask(j, m, allow_empty=True)
            n_steps = int(vs.finetune_steps if steps is None else steps)
            total = n_steps + self.n_frames
            self._set(state="running", phase="fine-tuning", done=0, total=total, error=None)
            vs.fit(n_steps, progress=lambda p: self._set(done=int(p.step)))
            self._set(phase="propagating", done=n_steps)
            new: dict[int, tuple[bytes, tuple[int, int]]] = {}
            conf: dict[int, float] = {}
            for r in vs.propagate():
                new[int(r.index)] = pack_mask(r.mask)
                conf[int(r.index)] = float(r.confidence)
                self._set(done=n_steps + len(new))
            with self.lock:
                self.propagated, self.confidence = new, conf
                self.round += 1
                self._propagated_version = version
            self._set(state="done", phase="done", done=total, round=self.round)
        except Exception as exc:
            self._set(state="failed", phase="failed", error=f"{type(exc).__name__}: {exc}")
            raise

    def start_propagation(self, steps: int | None = None) -> None:
        """:meth:`propagate` in a background thread (progress in :attr:`progress`)."""
        with self.lock:
            self._check_idle()
            if not self.record.annotated():
                raise AnnotationError("nothing to propagate: annotate the first frame first", conflict=True)
            self._set(state="running", phase="starting", done=0, total=0, error=None)

            def run() -> None:
                try:
                    self.propagate(steps)
                except Exception:  # noqa: BLE001 - kept in progress["error"]
                    pass

            self._thread = threading.Thread(target=run, name=f"propagate-{self.uri}", daemon=True)
            self._thread.start()

    def wait(self, timeout: float | None = None) -> dict[str, Any]:
        t = self._thread
        if t is not None:
            t.join(timeout)
        return dict(self.progress)

    def worst_frames(self, k: int = 3) -> list[int]:
        """The ``k`` propagated frames most in need of correction (confidence proxy), worst first."""
        with self.lock:
            self._check_idle()
            if self._vs is None or not self.propagated:
                raise AnnotationError("no propagation yet: propagate first", conflict=True)
            return [int(i) for i in self._vs.worst_frames(int(k))]

    # ---- the log -------------------------------------------------------------------------------
    def video_ref(self) -> VideoRef:
        return VideoRef(uri=self.uri, width=self.width, height=self.height, n_frames=self.n_frames, fps=self.fps,
                        dataset=self.dataset, sequence=self.sequence)

    def to_session(self, *, session_id: str, user_id: str, meta: dict[str, Any] | None = None) -> Session:
        with self.lock:
            return self.record.to_session(session_id=session_id, user_id=user_id, video=self.video_ref(), meta=meta)

    def close(self) -> None:
        close = getattr(self.source, "close", None)
        if close is not None:
            close()
        if self._vs is not None and not self.busy:
            self._vs.close()
