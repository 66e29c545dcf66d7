"""What simulated users work on: a video with ground truth (:class:`VideoLike`, the in-memory
:class:`ArrayVideo`) and what refining users look at (a :data:`PropagateFn`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import numpy as np

__all__ = ["ArrayVideo", "PropagateFn", "VideoLike"]

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
