"""Online adaptation of the propagating network (OnAVOS, Voigtlaender & Leibe 2017, simplest form).

OSVOS learns the object from the annotated frame only; as the object turns, deforms or meets a
look-alike, the one-shot network drifts. OnAVOS keeps training while it propagates: on a frame
it has just segmented, the pixels it is sure of become labels - deep inside its mask as object,
far outside it as background, the boundary band ignored - and a few steps on them (mixed with the
annotated frames, so the ground truth keeps anchoring it) update the network for the frames that
follow. :class:`OnlineAdapter` does that every ``OSVOSOptions.online_every`` propagated frames,
``online_steps`` steps each, on a copy of the fitted network (the fit itself stays as it was, so
a re-propagation or a refinement round starts from the same network).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import cv2
import numpy as np
from torch import nn

from ivos_core.video.finetune import default_lr, finetune
from ivos_core.video_prior import OSVOSOptions

__all__ = ["OnlineAdapter", "pseudo_label"]

#: fraction of the working frame's diagonal by which the mask is eroded for its object labels
ERODE_FRACTION = 0.02
#: the adaptation's learning rate as a fraction of the fit's (the fit's cosine schedule ends at 0.1)
LR_FRACTION = 0.1


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def pseudo_label(mask: np.ndarray, *, erode_px: int, band_px: int) -> tuple[np.ndarray, np.ndarray] | None:
    """A propagated mask as training labels: ``(label, valid)``, both (H, W) bool.

    Object = the mask eroded by ``erode_px``; background = beyond ``band_px`` of the mask; the
    band between is not valid (the network's boundary there is what may be wrong). None when the
    eroded mask is empty (the object is lost or tiny: nothing certain to learn from).
    """
    m = np.asarray(mask, dtype=np.uint8)
    inner = cv2.erode(m, _disc(max(1, int(erode_px)))).astype(bool)
    if not inner.any():
        return None
    outer = ~cv2.dilate(m, _disc(max(1, int(band_px)))).astype(bool)
    return inner, inner | outer


class OnlineAdapter:
    """Adapts a copy of the fitted network while a propagation runs (see the module docstring).

    ``anchors``: the annotated frames and masks at the working size (kept in every adaptation).
    :meth:`observe` takes each propagated frame (working size) and its mask in frame order; every
    ``options.online_every`` frames it trains the copy ``options.online_steps`` steps on the
    latest one plus the anchors. :attr:`model` is the network to propagate with.
    """

    def __init__(self, model: nn.Module, options: OSVOSOptions, anchors: list[tuple[np.ndarray, np.ndarray]],
                 finetune_kwargs: dict[str, Any], *, device: Any, seed: int) -> None:
        self.model = copy.deepcopy(model)
        self.options = options
        self.anchors = anchors
        self._anchor_frames = [f for f, _ in anchors]
        self._anchor_masks = [m for _, m in anchors]
        self._anchor_valid = [np.ones(m.shape, bool) for m in self._anchor_masks]  # ground truth counts everywhere
        self.kwargs = dict(finetune_kwargs)
        self.kwargs.pop("seed", None)
        self.kwargs["lr"] = LR_FRACTION * float(self.kwargs.get("lr") or default_lr(model))
        self.device = device
        self.seed = int(seed)
        self.seen = 0
        self.adaptations = 0

    def observe(self, frame: np.ndarray, mask: np.ndarray) -> bool:
        """Count one propagated frame; adapt on it when it is the ``online_every``-th. True if it adapted."""
        self.seen += 1
        if self.seen % int(self.options.online_every):
            return False
        diag = math.hypot(*mask.shape[:2])
        labels = pseudo_label(mask, erode_px=round(ERODE_FRACTION * diag),
                              band_px=round(self.options.prior_dilation * diag))
        if labels is None:
            return False
        label, valid = labels
        finetune(self.model, self._anchor_frames + [frame], self._anchor_masks + [label],
                 valid=self._anchor_valid + [valid], steps=int(self.options.online_steps), device=self.device,
                 seed=self.seed + 7919 * (self.adaptations + 1), **self.kwargs)
        self.adaptations += 1
        return True
