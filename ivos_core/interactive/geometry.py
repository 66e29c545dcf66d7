"""Where the user's inputs land: between the image, the network's resized frame and a zoom-in crop,
and which pixels they label for certain (the hard constraints of paper §2.1.2)."""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from ivos_core.interactions import Click, Stroke

__all__ = ["constraint_masks", "crop_inputs", "scale_inputs", "zoom_box"]


def scale_inputs(
    inputs: Sequence[Click | Stroke], sx: float, sy: float, height: int, width: int
) -> list[Click | Stroke]:
    """Map inputs from an image frame to a resized one (pixel centres kept aligned), clipped inside."""

    def tx(x: float) -> float:
        return float(min(max((x + 0.5) * sx - 0.5, 0.0), width - 1))

    def ty(y: float) -> float:
        return float(min(max((y + 0.5) * sy - 0.5, 0.0), height - 1))

    out: list[Click | Stroke] = []
    for inp in inputs:
        if isinstance(inp, Click):
            out.append(Click(x=tx(inp.x), y=ty(inp.y), positive=inp.positive))
        elif isinstance(inp, Stroke):
            pts = [(tx(x), ty(y)) for x, y in inp.points()]
            r = max(0.5, float(inp.radius) * (sx + sy) / 2.0)
            out.append(Stroke(points=pts, positive=inp.positive, radius=min(r, 256.0)))
        else:
            raise TypeError(f"expected Click or Stroke inputs, got {type(inp).__name__}")
    return out


def crop_inputs(
    inputs: Sequence[Click | Stroke], x0: int, y0: int, width: int, height: int
) -> list[Click | Stroke]:
    """Inputs in the frame of the crop at (x0, y0) of ``width`` x ``height``; what falls outside is
    dropped (a click clipped to the crop's border would tell the network something false)."""

    def inside(x: float, y: float) -> bool:
        return 0 <= x - x0 <= width - 1 and 0 <= y - y0 <= height - 1

    out: list[Click | Stroke] = []
    for inp in inputs:
        if isinstance(inp, Click):
            if inside(inp.x, inp.y):
                out.append(Click(x=inp.x - x0, y=inp.y - y0, positive=inp.positive))
        else:
            pts = [(x - x0, y - y0) for x, y in inp.points() if inside(x, y)]
            if pts:
                out.append(Stroke(points=pts, positive=inp.positive, radius=inp.radius))
    return out


def constraint_masks(
    inputs: Sequence[Click | Stroke], height: int, width: int, *, click_radius: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """(force_fg, force_bg) bool (H, W): pixels labelled by the inputs, later inputs winning.

    A click labels a disk of ``click_radius`` px (0: the one pixel); a stroke its brush (every
    pixel within ``radius`` of its polyline). Coordinates outside the image are clipped.
    """
    fg = np.zeros((height, width), np.uint8)
    bg = np.zeros((height, width), np.uint8)
    for inp in inputs:
        paint = np.zeros((height, width), np.uint8)
        if isinstance(inp, Click):
            c = (int(round(min(max(inp.x, 0), width - 1))), int(round(min(max(inp.y, 0), height - 1))))
            if click_radius > 0:
                cv2.circle(paint, c, int(click_radius), 1, thickness=-1)
            else:
                paint[c[1], c[0]] = 1
        else:
            pts = np.array([[round(x), round(y)] for x, y in inp.points()], np.int32)
            r = max(0, int(round(inp.radius)))
            if len(pts) > 1:
                cv2.polylines(paint, [pts.reshape(-1, 1, 2)], False, 1, thickness=max(1, 2 * r + 1))
            for x, y in pts:
                cv2.circle(paint, (int(x), int(y)), r, 1, thickness=-1)
        on = paint.astype(bool)
        if inp.positive:
            fg[on], bg[on] = 1, 0
        else:
            bg[on], fg[on] = 1, 0
    return fg.astype(bool), bg.astype(bool)


def zoom_box(
    inputs: Sequence[Click | Stroke], prev_mask: np.ndarray | None, height: int, width: int,
    *, expand: float = 1.4, min_size: int = 100, min_inputs: int = 2,
) -> tuple[int, int, int, int] | None:
    """The zoom-in crop (y0, y1, x0, x1) around the current object, or None for the whole image.

    The object is the previous mask plus the positive inputs, grown by ``expand`` and at least
    ``min_size`` px a side. None before the ``min_inputs``-th input (on the first there is no
    object yet), for an empty previous mask,
    or when the crop would cover most of the image anyway (no resolution to gain).
    """
    if prev_mask is None or len(inputs) < max(2, min_inputs):
        return None
    pm = np.asarray(prev_mask) > 0.5
    if pm.shape != (height, width) or not pm.any():
        return None
    ys, xs = np.nonzero(pm)
    px = [float(xs.min()), float(xs.max())]
    py = [float(ys.min()), float(ys.max())]
    for inp in inputs:
        if inp.positive:
            for x, y in inp.points():
                px.append(x)
                py.append(y)
    cx, cy = (min(px) + max(px)) / 2.0, (min(py) + max(py)) / 2.0
    bw = max(min_size, (max(px) - min(px) + 1) * expand)
    bh = max(min_size, (max(py) - min(py) + 1) * expand)
    x0, x1 = int(max(0, np.floor(cx - bw / 2))), int(min(width, np.ceil(cx + bw / 2)))
    y0, y1 = int(max(0, np.floor(cy - bh / 2))), int(min(height, np.ceil(cy + bh / 2)))
    if (x1 - x0) * (y1 - y0) >= 0.8 * width * height or x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return y0, y1, x0, x1
