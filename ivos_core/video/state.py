"""The typed state of an open video: what the user annotated (:class:`FrameAnnotation`), every
frame's mask as packed bits (:class:`PackedMasks`), the fine-tuned network, and the results
:class:`~ivos_core.video.VideoSegmenter` hands back (:class:`FrameResult`,
:class:`PropagationStats`, :class:`RefinementRound`), plus :class:`VideoSegmenterError`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from torch import nn

from ivos_core.interactions import Click, Interaction, Stroke

__all__ = [
    "FrameAnnotation",
    "FrameResult",
    "Iterations",
    "PackedMasks",
    "PropagationStats",
    "RefinementRound",
    "Stage",
    "UserInputs",
    "VideoSegmenterError",
    "VideoState",
]

Stage = Literal["first_frame", "refinement", "given"]
UserInputs = Sequence[Click | Stroke]
Iterations = Sequence[Interaction] | UserInputs | Sequence[UserInputs]


class VideoSegmenterError(ValueError):
    """A video-level failure; ``video`` and ``frame_index`` (or None) say where."""

    def __init__(self, video: str, reason: str, frame_index: int | None = None) -> None:
        self.video = video
        self.reason = reason
        self.frame_index = frame_index
        where = f" frame {frame_index}" if frame_index is not None else ""
        super().__init__(f"{video}{where}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.video, self.reason, self.frame_index))


@dataclass(frozen=True)
class FrameResult:
    """One propagated frame: ``prob`` (H, W) float32 in [0, 1], ``mask`` (H, W) bool.

    ``confidence`` in [0, 1]: mean ``|2p - 1|`` over the band around the mask's boundary (1 for
    annotated frames, whose ``prob`` is their annotation). ``annotated``: the frame is in the
    fine-tuning set and kept its annotation.
    """

    index: int
    prob: np.ndarray
    mask: np.ndarray
    confidence: float
    annotated: bool = False


@dataclass
class FrameAnnotation:
    """An annotated frame: its RGB ``frame`` (H, W, 3) uint8 and ``mask`` (H, W) bool.

    ``iterations``: the inputs of each interactive iteration (empty for :meth:`set_mask`).
    """

    index: int
    frame: np.ndarray
    mask: np.ndarray
    stage: Stage
    iterations: list[list[Click | Stroke]] = field(default_factory=list)


@dataclass(frozen=True)
class PropagationStats:
    """What :meth:`VideoSegmenter.propagate_all` did."""

    n_frames: int
    seconds: float

    @property
    def fps(self) -> float:
        return self.n_frames / self.seconds if self.seconds > 0 else math.inf


@dataclass(frozen=True)
class RefinementRound:
    """One round of progressive refinement: frames corrected, then re-fit and re-propagated.

    ``mean_iou_before`` / ``after``: over all frames, only when ground truth was given.
    """

    round: int
    frames: tuple[int, ...]
    mean_iou_before: float | None
    mean_iou_after: float | None


class PackedMasks:
    """``n`` boolean masks (H, W) stored as packed bits, in RAM or in a memory-mapped file.

    ``masks[i] = m`` packs; ``masks[i]`` unpacks a fresh (H, W) bool array; ``masks.has(i)``
    says whether frame ``i`` was written. ``path`` (optional) backs the bits with a file.
    """

    def __init__(self, n: int, height: int, width: int, *, path: str | Path | None = None) -> None:
        self.n, self.height, self.width = int(n), int(height), int(width)
        self.row_bytes = (self.height * self.width + 7) // 8
        self.path = Path(path) if path is not None else None
        if self.path is None:
            self._bits = np.zeros((self.n, self.row_bytes), np.uint8)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._bits = np.lib.format.open_memmap(
                self.path, mode="w+", dtype=np.uint8, shape=(self.n, self.row_bytes)
            )
        self._written = np.zeros(self.n, bool)

    def __len__(self) -> int:
        return self.n

    @property
    def nbytes(self) -> int:
        return int(self._bits.nbytes)

    def has(self, i: int) -> bool:
        return bool(self._written[i])

    def __setitem__(self, i: int, mask: np.ndarray) -> None:
        m = np.asarray(mask, dtype=bool)
        if m.shape != (self.height, self.width):
            raise ValueError(f"mask {i} has shape {m.shape}, expected {(self.height, self.width)}")
        self._bits[i] = np.packbits(m.reshape(-1))
        self._written[i] = True

    def __getitem__(self, i: int) -> np.ndarray:
        if not self._written[i]:
            raise KeyError(f"no mask stored for frame {i}")
        flat = np.unpackbits(self._bits[i], count=self.height * self.width)
        return flat.reshape(self.height, self.width).astype(bool)


@dataclass
class VideoState:
    """Everything :class:`VideoSegmenter` knows about the open video.

    ``annotations``: frame index -> :class:`FrameAnnotation` (the fine-tuning set).
    ``masks``: every frame's current mask (annotation, else propagated), packed bits.
    ``confidence``: (T,) float32 per propagated frame, NaN where not propagated.
    ``model``: the fine-tuned network (None before :meth:`VideoSegmenter.fit`);
    ``fitted_on``: the annotated frames it was fine-tuned on.
    """

    name: str
    n_frames: int
    height: int
    width: int
    fps: float
    masks: PackedMasks
    confidence: np.ndarray
    annotations: dict[int, FrameAnnotation] = field(default_factory=dict)
    model: nn.Module | None = None
    fitted_on: tuple[int, ...] = ()
    propagations: int = 0

    @property
    def annotated_frames(self) -> list[int]:
        return sorted(self.annotations)

    @property
    def needs_fit(self) -> bool:
        return self.model is None or tuple(self.annotated_frames) != self.fitted_on


def _normalise_iterations(interactions: Iterations) -> list[list[Click | Stroke]]:
    """Interactions -> list of iterations, each a list of inputs.

    Accepts a list of :class:`Interaction` (one per iteration), a flat list of clicks/strokes
    (one iteration) or a list of such lists.
    """
    items = list(interactions)
    if not items:
        return []
    if all(isinstance(x, Interaction) for x in items):
        return [list(x.inputs) for x in sorted(items, key=lambda it: it.index)]
    if all(isinstance(x, (Click, Stroke)) for x in items):
        return [items]
    if all(isinstance(x, (list, tuple)) and all(isinstance(y, (Click, Stroke)) for y in x) for x in items):
        return [list(x) for x in items]
    raise TypeError(
        "interactions must be a list of Interaction, a list of Click/Stroke (one iteration) or a list of such lists"
    )
