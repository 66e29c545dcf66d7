"""Segmenters and propagation for simulated users: :data:`~ivos_core.protocols.SegmentFn` around
GrabCut or an interactive model, at a smaller working size, and a cheap optical-flow stand-in
for OSVOS propagation."""

from __future__ import annotations

from typing import Any, Sequence

import cv2
import numpy as np

from ivos_core.interactions import Click
from ivos_core.protocols import SegmentFn, UserInput
from ivos_core.users.annotator import _as_mask
from ivos_core.users.videos import PropagateFn, VideoLike

__all__ = ["at_scale", "flow_propagate", "grabcut_segment", "model_segment"]


def grabcut_segment(**kwargs: Any) -> SegmentFn:
    """A :data:`SegmentFn` around OpenCV GrabCut (``ivos_core.baselines.grabcut``), so sessions
    can be simulated without a trained deep model. ``kwargs`` go to ``GrabCutSegmenter``."""
    from ivos_core.baselines.grabcut import GrabCutSegmenter

    seg = GrabCutSegmenter(**kwargs)

    def segment(image: np.ndarray, inputs: Sequence[UserInput], prev_mask: np.ndarray | None) -> np.ndarray:
        return _as_mask(seg.predict(image, list(inputs), prev_mask), image.shape[:2], "GrabCutSegmenter.predict")

    return segment


def model_segment(segmenter: Any) -> SegmentFn:
    """A :data:`SegmentFn` around an :class:`~ivos_core.interactive.segmenter.InteractiveSegmenter`.

    Calls ``set_image`` only when the image changes (it caches the image's features; the user
    iterates on one frame), then ``predict(inputs, prev_mask=...)`` and takes its ``.mask``.
    """
    current: list[np.ndarray] = []

    def segment(image: np.ndarray, inputs: Sequence[UserInput], prev_mask: np.ndarray | None) -> np.ndarray:
        if not current or current[0] is not image:
            segmenter.set_image(image)
            current[:] = [image]
        pred = segmenter.predict(list(inputs), prev_mask=prev_mask)
        return _as_mask(pred, image.shape[:2], "InteractiveSegmenter.predict")

    return segment


def _scale_input(inp: UserInput, s: float, w: int, h: int) -> UserInput:
    if isinstance(inp, Click):
        x, y = inp.x * s, inp.y * s
        return inp.model_copy(update={"x": float(np.clip(x, 0, w - 1)), "y": float(np.clip(y, 0, h - 1))})
    pts = [(float(np.clip(x * s, 0, w - 1)), float(np.clip(y * s, 0, h - 1))) for x, y in inp.points()]
    return inp.model_copy(update={"points_xy": pts, "radius": max(0.5, inp.radius * s)})


def at_scale(segment: SegmentFn, max_side: int) -> SegmentFn:
    """Run ``segment`` on a copy downscaled so its longer side is ``<= max_side`` (inputs,
    brush radii and ``prev_mask`` scaled along), and upscale the mask back (nearest).

    Why: GrabCut at 854x480 takes about a second per iteration; simulating hundreds of sessions
    at a smaller working size is several times faster, and the logged inputs stay at full size.
    """
    if max_side < 16:
        raise ValueError(f"max_side must be >= 16, got {max_side}")

    def segment_small(image: np.ndarray, inputs: Sequence[UserInput], prev_mask: np.ndarray | None) -> np.ndarray:
        h, w = image.shape[:2]
        s = min(1.0, max_side / max(h, w))
        if s >= 1.0:
            return segment(image, inputs, prev_mask)
        sw, sh = max(1, round(w * s)), max(1, round(h * s))
        small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
        prev = None
        if prev_mask is not None:
            prev = cv2.resize(prev_mask.astype(np.uint8), (sw, sh), interpolation=cv2.INTER_NEAREST).astype(bool)
        out = _as_mask(segment(small, [_scale_input(i, s, sw, sh) for i in inputs], prev), (sh, sw), "segment")
        return cv2.resize(out.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)

    return segment_small


def flow_propagate(video: VideoLike, *, max_side: int = 320) -> PropagateFn:
    """A cheap stand-in for OSVOS propagation: warp the mask frame to frame along Farnebäck flow.

    For each frame ``i`` the backward flow ``i -> i-1`` (on grey frames downscaled to
    ``max_side``) pulls the previous mask into frame ``i``; the result is thresholded at 0.5 and
    upscaled. Errors accumulate with motion and occlusion, which is what a refining user sees.
    Not the paper's method: it makes refinement sessions possible without a trained OSVOS model.
    """
    from ivos_core.difficulty import farneback_flow, to_small_grey

    greys = [to_small_grey(np.asarray(video.frame(i)), max_side) for i in range(len(video))]

    def propagate(first_mask: np.ndarray) -> list[np.ndarray]:
        h, w = first_mask.shape
        sh, sw = greys[0].shape
        cur = cv2.resize(first_mask.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
        gx, gy = np.meshgrid(np.arange(sw, dtype=np.float32), np.arange(sh, dtype=np.float32))
        out = [first_mask.astype(bool)]
        for i in range(1, len(greys)):
            flow = farneback_flow(greys[i], greys[i - 1])  # frame i pixel -> where it was in i-1
            cur = cv2.remap(cur, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            cur = (cur >= 0.5).astype(np.float32)
            out.append(cv2.resize(cur, (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5)
        return out

    return propagate
