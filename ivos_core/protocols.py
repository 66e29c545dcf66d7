"""The contracts between the library's rooms: one of each.

* :class:`InteractiveMethod`: anything that segments an image from clicks and strokes (the deep
  model, iFCN, GrabCut). Everything that drives one (the NoC evaluation, the DAVIS protocols,
  replay jobs, simulated users, the annotation app) takes this.
  :data:`SegmentFn` is the same contract as one stateless function, ``segment(image, inputs,
  prev_mask)`` (``set_image`` then ``predict``; the simulated users take it, and
  :func:`ivos_core.users.model_segment` turns an interactive method into one).
* :class:`FrameSource`: a video as jobs read it (size, length, rate, RGB frames).
* :data:`ProgressFn`: ``progress(done, total, label)`` for long loops (flows turn it into Prefect
  progress artifacts).
* :class:`TrainProgress`: what every training loop reports after its steps (interactive training,
  OSVOS parent training, OSVOS fine-tuning).

Shapes: images are ``(H, W, 3)`` uint8 RGB, masks ``(H, W)`` bool, coordinates pixels of the image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol, Sequence, Union, runtime_checkable

import numpy as np

from ivos_core.interactions import Click, Stroke

__all__ = ["UserInput", "InteractiveMethod", "SegmentFn", "FrameSource", "ProgressFn", "TrainProgress"]

UserInput = Union[Click, Stroke]

ProgressFn = Callable[[int, int, str], None]
"""``progress(done, total, label)``: ``done`` of ``total`` units finished, ``label`` the last one."""


@dataclass(frozen=True)
class TrainProgress:
    """One progress report of a training loop: ``step`` of ``total_steps`` done, the loss, seconds
    since the start; then what only some loops know (``stage``, ``lr``, ``images_per_s``).

    One record serves every loop (interactive training in :mod:`ivos_core.training.loop`, OSVOS
    parent training and one-shot fine-tuning in :mod:`ivos_core.video.finetune`) so that a caller
    (a flow's progress bar, the annotation app) reads the same field names whichever loop it
    drives; a loop that has no stages reports ``stage=0``, one that does not measure ``lr`` or
    throughput leaves them ``None``.
    """

    step: int
    total_steps: int
    loss: float
    elapsed_s: float
    stage: int = 0
    lr: float | None = None
    images_per_s: float | None = None


@runtime_checkable
class InteractiveMethod(Protocol):
    """An interactive segmentation method: a cheap :meth:`predict` per click after one
    :meth:`set_image` per image (the two-phase shape of SAM's predictor).

    The one contract of the library: the NoC evaluation (``ivos_core.evaluation``, which also
    reads a ``name: str`` attribute to label its results), the DAVIS protocols, the video room's
    ``VideoSegmenter`` (which also accepts a result with a ``.mask``, as the deep
    ``InteractiveSegmenter`` facade returns) and the jobs take it; GrabCut
    (``baselines.grabcut.GrabCutClickMethod``, ``methods.GrabCutMethod``) and the deep models
    (``methods.DeepMethod``) implement it.
    """

    def set_image(self, image: np.ndarray) -> None:
        """Per-image preparation; ``image`` is ``(H, W, 3)`` uint8 RGB."""

    def predict(self, inputs: Sequence[UserInput], prev_mask: np.ndarray | None) -> np.ndarray:
        """All inputs on this image so far, oldest first, plus the previous mask (None on the
        first iteration) -> ``(H, W)`` bool mask."""


SegmentFn = Callable[[np.ndarray, Sequence[UserInput], Union[np.ndarray, None]], np.ndarray]
"""``segment(image (H, W, 3) uint8 RGB, inputs, prev_mask (H, W) bool | None) -> (H, W) bool``:
an :class:`InteractiveMethod` as one stateless call (what ``GrabCutSegmenter.predict`` is).

``inputs`` are all inputs given on this image so far, oldest first; ``prev_mask`` is the previous
iteration's result (None on the first iteration of a first frame; the propagated mask on the
first iteration of a refinement frame)."""


@runtime_checkable
class FrameSource(Protocol):
    """What jobs need from a video: size, length, rate and RGB frames by index or in order."""

    path: Path
    width: int
    height: int
    n_frames: int
    fps: float

    def read(self, i: int) -> np.ndarray:
        """Frame ``i`` as ``(H, W, 3)`` uint8 RGB."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[np.ndarray]: ...
