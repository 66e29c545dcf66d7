"""Several objects in one replay: which inputs belong to an object, and the DAVIS way of putting
the objects' masks together into one label map per frame.

Each object is segmented on its own (its own interactive iterations, its own OSVOS fine-tuning),
so two objects may claim one pixel. As in DAVIS 2017 and its semi-supervised baselines, the pixel
goes to the object with the **highest probability** there: propagated frames compare the models'
probabilities (``FrameOut.prob``), and an annotated frame counts as probability 1 inside the
user's mask (what the user made beats what was propagated). **Ties, and backends that give masks
only** (no ``prob``), go to the **higher object id**: objects are painted in ascending id order,
each over the earlier ones where its score is at least theirs, so the result is deterministic.
A pixel no object claims is background (0).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ivos_core.interactions import AnnotatedFrame, Interaction
from ivos_core.protocols import UserInput

__all__ = ["object_iterations", "has_inputs", "LabelMerger"]


def object_iterations(frame: AnnotatedFrame, object_id: int) -> list[tuple[Interaction, list[UserInput]]]:
    """The frame's iterations that hold inputs for ``object_id``, each with only those inputs: what
    the user gave for this object, in the order given (other objects' inputs are not its clicks)."""
    out = []
    for it in frame.iterations:
        mine: list[UserInput] = [i for i in it.inputs if i.object_id == object_id]
        if mine:
            out.append((it, mine))
    return out


def has_inputs(frame: AnnotatedFrame, object_id: int) -> bool:
    """Whether the user gave ``object_id`` any input on ``frame``."""
    return any(i.object_id == object_id for it in frame.iterations for i in it.inputs)


class LabelMerger:
    """Label maps (``uint8``: 0 background, k object k) built object by object (see the module
    docstring for who wins a pixel). Holds one label map and one ``float16`` score map per frame,
    whatever the number of objects, so objects can be replayed one after the other."""

    def __init__(self, n_frames: int, height: int, width: int) -> None:
        self.labels = [np.zeros((height, width), np.uint8) for _ in range(n_frames)]
        self._best = [np.zeros((height, width), np.float16) for _ in range(n_frames)]
        self._last_id = 0

    def add(self, object_id: int, masks: Sequence[np.ndarray], probs: Sequence[np.ndarray | None] | None) -> None:
        """Paint ``object_id`` (ids must come in ascending order): frame ``i``'s pixels inside
        ``masks[i]`` whose score (``probs[i]``, else 1) is at least the best so far."""
        if object_id <= self._last_id:
            raise ValueError(f"objects must be added in ascending id order: {object_id} after {self._last_id}")
        if len(masks) != len(self.labels):
            raise ValueError(f"object {object_id}: {len(masks)} masks for {len(self.labels)} frames")
        self._last_id = object_id
        for i, m in enumerate(masks):
            m = np.asarray(m, dtype=bool)
            p = None if probs is None else probs[i]
            score = np.ones(m.shape, np.float16) if p is None else np.asarray(p, dtype=np.float16)
            take = m & (score >= self._best[i])
            self.labels[i][take] = object_id
            self._best[i][take] = score[take]

    def masks_of(self, object_id: int) -> list[np.ndarray]:
        """The resolved masks of one object (after every object was added)."""
        return [lab == object_id for lab in self.labels]
