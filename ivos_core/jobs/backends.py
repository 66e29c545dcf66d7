"""The model work of a replay behind one small protocol, :class:`ReplayBackend`, so the replay's
order can be tested with a stand-in; :class:`VideoSegmenterBackend` (the default) adapts
:class:`ivos_core.video.VideoSegmenter`.

Several objects: the replay segments one object at a time and calls ``start_object(k)`` before
each (sessions with one object never call it), so a backend holds one object's annotations and
fine-tuned network at a time; a backend without ``start_object`` replays one-object sessions only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Protocol

import numpy as np

from ivos_core.interactive.methods import correction_kwargs
from ivos_core.jobs.models import JobError, ModelVersion
from ivos_core.protocols import InteractiveMethod, UserInput

__all__ = ["FrameOut", "MultiObjectBackend", "ReplayBackend", "VideoSegmenterBackend", "load_interactive", "load_osvos"]


@dataclass
class FrameOut:
    """One propagated frame: ``mask`` (H, W) bool, a confidence in [0, 1] and, when the model has
    one, the per-pixel probability ``prob`` (H, W) in [0, 1] (overlapping objects are resolved by
    it: the most probable object wins a pixel)."""

    index: int
    mask: np.ndarray
    confidence: float
    prob: np.ndarray | None = None


class ReplayBackend(Protocol):
    """What a replay needs from the models."""

    version: str

    def open(self, source: Path) -> None: ...

    def interact(
        self, frame_index: int, inputs: list[UserInput], prev_mask: np.ndarray | None, *, correction: bool = False
    ) -> np.ndarray:
        """One iteration on a frame: ``(H, W)`` bool mask. ``correction``: the frame's mask came
        from propagation, so parts of it were never clicked (no clicked-component filter)."""

    def add_annotation(self, frame_index: int, mask: np.ndarray) -> None:
        """Use ``mask`` as the ground truth of ``frame_index`` for fine-tuning."""

    def fit(self, steps: int) -> None: ...

    def propagate(self) -> Iterator[FrameOut]: ...


class MultiObjectBackend(ReplayBackend, Protocol):
    """A backend that segments the objects of a session one after the other."""

    def start_object(self, object_id: int) -> None:
        """Forget the annotations and the fine-tuned network: the next calls concern ``object_id``."""


class _CorrectionSwitch:
    """The interactive method as :class:`VideoSegmenter` sees it; while :attr:`correcting`, a
    method with a clicked-component filter (``keep_clicked``) runs without it, as the DAVIS
    protocols do for corrections: the propagated mask's unclicked parts are the object too."""

    def __init__(self, method: Any) -> None:
        self.method = method
        self.correcting = False

    def set_image(self, image: np.ndarray) -> None:
        self.method.set_image(image)

    def predict(self, inputs: list[UserInput], prev_mask: np.ndarray | None = None) -> Any:
        kw = correction_kwargs(self.method) if self.correcting else {}
        return self.method.predict(inputs, prev_mask=prev_mask, **kw)


class VideoSegmenterBackend:
    """Adapter from :class:`ivos_core.video.VideoSegmenter` to :class:`ReplayBackend`.

    Each iteration is one ``annotate`` call with the cumulative inputs and the previous mask;
    ``fit`` restarts from the parent network (OSVOS) with all annotated frames.
    """

    def __init__(self, spec: ModelVersion, *, device: str = "auto", segmenter: InteractiveMethod | None = None) -> None:
        from ivos_core.video import VideoSegmenter

        self.version = spec.version
        self.spec = spec
        self._method = _CorrectionSwitch(segmenter if segmenter is not None else load_interactive(spec, device))
        self.vs = VideoSegmenter(load_osvos(spec), interactive=self._method, device=device, options=spec.video_options())

    def open(self, source: Path) -> None:
        self._source = source
        self.vs.open(source)

    def start_object(self, object_id: int) -> None:
        """Re-open the video (a fresh state): the next object's OSVOS starts from the parent
        network with only its own annotations, as a one-object run would."""
        source = getattr(self, "_source", None)
        if source is None:
            raise JobError(f"start_object({object_id}) before open(): no video to segment the object in")
        self.vs.open(source)

    def interact(
        self, frame_index: int, inputs: list[UserInput], prev_mask: np.ndarray | None, *, correction: bool = False
    ) -> np.ndarray:
        self._method.correcting = correction
        try:
            mask = self.vs.annotate(frame_index, [list(inputs)], prev_mask=prev_mask, allow_empty=True)
        finally:
            self._method.correcting = False
        return np.asarray(mask, dtype=bool)

    def add_annotation(self, frame_index: int, mask: np.ndarray) -> None:
        self.vs.set_mask(frame_index, mask, allow_empty=True)

    def fit(self, steps: int) -> None:
        self.vs.fit(steps=steps)

    def propagate(self) -> Iterator[FrameOut]:
        for fr in self.vs.propagate():
            yield FrameOut(int(fr.index), np.asarray(fr.mask, dtype=bool), float(fr.confidence), fr.prob)


def load_interactive(spec: ModelVersion, device: str) -> Any:
    """The model version's interactive method: GrabCut, or the deep checkpoint with its options."""
    if spec.interactive == "grabcut":
        from ivos_core.interactive.methods import GrabCutMethod

        return GrabCutMethod()
    from ivos_core.interactive.segmenter import InteractiveSegmenter

    try:
        return InteractiveSegmenter.from_checkpoint(spec.interactive_checkpoint, device=device, **spec.interactive_options)
    except (ValueError, OSError) as exc:
        raise JobError(f"cannot load interactive checkpoint {spec.interactive_checkpoint}: {exc}") from exc


def load_osvos(spec: ModelVersion) -> Any:
    """The OSVOS parent network of the model version (its checkpoint, or a fresh ``spec.osvos``)."""
    from ivos_core.models.osvos import build_osvos

    if spec.osvos_checkpoint is None:
        return build_osvos(spec.osvos)
    try:
        from ivos_core.training.osvos_parent import load_parent

        return load_parent(spec.osvos_checkpoint)
    except Exception:  # a plain state-dict file
        return build_osvos(spec.osvos, pretrained=spec.osvos_checkpoint)
