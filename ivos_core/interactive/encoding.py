"""User inputs (clicks and strokes) -> the extra input channels of the interactive network.

Two encodings:

* ``"gaussian"`` (paper §2.1): ONE signed channel, zero-initialised, with a Gaussian of small
  standard deviation placed at every positive input (+G) and every negative input (-G).
* ``"distance"`` (iFCN, Xu et al. 2016, the paper's baseline [18]): TWO channels holding the
  Euclidean distance to the nearest positive / negative input, truncated at 255.

Both return float32 ``(C, H, W)`` arrays from :func:`encode`; :func:`n_channels` says ``C``.

Geometry (shared with :mod:`ivos_core.interactions`): coordinates are float pixels, ``x`` the
column and ``y`` the row, origin at the centre of the top-left pixel; they are rounded to the
nearest pixel. A :class:`~ivos_core.interactions.Click` marks one pixel. A
:class:`~ivos_core.interactions.Stroke` marks its *brush*: every pixel within ``stroke.radius`` of
its polyline (rasterised as ``Stroke.dense_points()``), i.e. the pixels a user painted. Both
encodings then depend on ``d``, the Euclidean distance of a pixel to the nearest marked pixel:
Gaussian ``exp(-d^2 / 2 sigma^2)`` and distance ``min(d, truncate)``. For a brush this uses the
exact identity "distance to a union of disks = max(0, distance to their centres - radius)".
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal, Sequence

import cv2
import numpy as np

from ivos_core.interactions import Click, Stroke

Method = Literal["gaussian", "distance"]
METHODS: tuple[str, ...] = ("gaussian", "distance")

#: Standard deviation (pixels) of the click Gaussians. The paper says only "Gaussians with a
#: small standard deviation" (§2.1) and shows them as compact blobs next to the far-reaching
#: distance map (Fig. 2); it gives no number. Our reading: small relative to the object (the
#: paper works at DAVIS 480p), yet about the size of its own click spacing d_step = 5 so that a
#: click still marks a neighbourhood after the network's 8x down-sampling. 5 px does both: the
#: peak is 1 at the click, 0.61 one sigma away, and the support (4 sigma = 20 px) is a small
#: fraction of a 480p object. Models record their sigma in their checkpoint config.
DEFAULT_SIGMA: float = 5.0

#: Gaussians are computed (and non-zero) only within this many sigmas of an input (exp(-8) ~ 3e-4).
SUPPORT_SIGMAS: float = 4.0

#: iFCN truncates its distance maps at 255 (the value of "no click nearby").
DEFAULT_TRUNCATE: float = 255.0


# ----------------------------------------------------------------------------------------------
# validation and rasterisation helpers
# ----------------------------------------------------------------------------------------------
def _check_size(height: int, width: int) -> None:
    if int(height) != height or int(width) != width or height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive integers, got height={height!r}, width={width!r}")


def _check_inside(inputs: Sequence[Click | Stroke], height: int, width: int) -> None:
    """Raise ValueError naming the first input with a point outside the ``width x height`` image."""
    for i, inp in enumerate(inputs):
        if not isinstance(inp, (Click, Stroke)):
            raise TypeError(f"inputs[{i}] is a {type(inp).__name__}; expected Click or Stroke")
        for x, y in inp.points():
            if not (0 <= x <= width - 1 and 0 <= y <= height - 1):
                raise ValueError(
                    f"inputs[{i}] ({inp.kind}, positive={inp.positive}) has point ({x}, {y}) outside the "
                    f"{width}x{height} image (need 0 <= x <= {width - 1}, 0 <= y <= {height - 1}); "
                    "rescale the inputs to the image size before encoding"
                )


def _pixel(x: float, y: float) -> tuple[int, int]:
    """Nearest pixel ``(row, col)`` of a float ``(x, y)`` point (half-way rounds up)."""
    return int(math.floor(y + 0.5)), int(math.floor(x + 0.5))


def _stroke_distance(stroke: Stroke, height: int, width: int, reach: float) -> tuple[slice, slice, np.ndarray]:
    """Distance to ``stroke``'s brush inside its bounding window grown by ``reach`` pixels.

    Returns ``(rows, cols, d)`` with ``d`` float32 of the window's shape: 0 on the brush, the
    Euclidean distance to it elsewhere. Pixels outside the window are farther than ``reach``.
    """
    pts = np.array([_pixel(x, y) for x, y in stroke.dense_points()], dtype=np.int64)
    grow = int(math.ceil(stroke.radius + reach)) + 1
    r0, c0 = max(0, pts[:, 0].min() - grow), max(0, pts[:, 1].min() - grow)
    r1, c1 = min(height, pts[:, 0].max() + grow + 1), min(width, pts[:, 1].max() + grow + 1)
    src = np.full((r1 - r0, c1 - c0), 255, np.uint8)
    src[pts[:, 0] - r0, pts[:, 1] - c0] = 0  # distanceTransform measures to the nearest zero
    d = cv2.distanceTransform(src, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    d = np.maximum(d - np.float32(stroke.radius), 0, dtype=np.float32)
    return slice(r0, r1), slice(c0, c1), d


@lru_cache(maxsize=16)
def _click_kernel(sigma: float) -> tuple[int, np.ndarray]:
    """``(R, K)``: the ``(2R+1, 2R+1)`` Gaussian patch of one click, zero beyond 4 sigma."""
    reach = SUPPORT_SIGMAS * sigma
    r = int(math.ceil(reach))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float32)
    d2 = xx * xx + yy * yy
    k = np.exp(-d2 / np.float32(2.0 * sigma * sigma)).astype(np.float32)
    k[d2 > reach * reach] = 0.0
    k.setflags(write=False)
    return r, k


def _paste_max(dst: np.ndarray, patch: np.ndarray, row: int, col: int) -> None:
    """``dst = max(dst, patch)`` with ``patch`` centred on ``(row, col)``, clipped to ``dst``."""
    r = patch.shape[0] // 2
    h, w = dst.shape
    r0, r1 = max(0, row - r), min(h, row + r + 1)
    c0, c1 = max(0, col - r), min(w, col + r + 1)
    sub = patch[r0 - (row - r) : r1 - (row - r), c0 - (col - r) : c1 - (col - r)]
    np.maximum(dst[r0:r1, c0:c1], sub, out=dst[r0:r1, c0:c1])


# ----------------------------------------------------------------------------------------------
# public API
# ----------------------------------------------------------------------------------------------
def gaussian_map(
    inputs: Sequence[Click | Stroke], height: int, width: int, sigma: float = DEFAULT_SIGMA
) -> np.ndarray:
    """The paper's signed Gaussian channel: float32 ``(H, W)`` in ``[-1, 1]``.

    Each input contributes ``exp(-d^2 / 2 sigma^2)`` (``d`` = distance to its pixel or brush; 0
    beyond 4 sigma): +G for positive inputs, -G for negative ones. Inputs of the same sign combine
    by *maximum*, not by the paper's literal sum, so the value stays in ``[-1, 1]`` and a click's
    peak is exactly 1 however many neighbours it has. Where a positive and a negative Gaussian
    overlap, the pixel takes the one of larger magnitude (a tie goes to the positive), so each
    input keeps its own sign at its own pixel instead of two nearby opposite clicks cancelling
    to 0. Clicks cost one ``(8 sigma + 1)^2`` patch each; strokes a distance transform over their
    bounding window.
    """
    _check_size(height, width)
    if not (sigma > 0 and math.isfinite(sigma)):
        raise ValueError(f"sigma must be a positive number of pixels, got {sigma!r}")
    _check_inside(inputs, height, width)
    pos = np.zeros((height, width), np.float32)
    neg = np.zeros((height, width), np.float32) if any(not i.positive for i in inputs) else None
    _, kernel = _click_kernel(float(sigma))
    reach = SUPPORT_SIGMAS * sigma
    for inp in inputs:
        dst = pos if inp.positive else neg
        if isinstance(inp, Click):
            _paste_max(dst, kernel, *_pixel(inp.x, inp.y))
        else:
            rows, cols, d = _stroke_distance(inp, height, width, reach)
            g = np.exp(-(d * d) / np.float32(2.0 * sigma * sigma)).astype(np.float32)
            g[d > reach] = 0.0
            np.maximum(dst[rows, cols], g, out=dst[rows, cols])
    if neg is not None:  # negative wins only where strictly larger in magnitude
        stronger = neg > pos
        pos[stronger] = -neg[stronger]
    return pos


def distance_maps(
    inputs: Sequence[Click | Stroke], height: int, width: int, truncate: float = DEFAULT_TRUNCATE
) -> np.ndarray:
    """iFCN's encoding: float32 ``(2, H, W)``, Euclidean distance to the nearest input, truncated.

    Channel 0 is the distance to the nearest positive input, channel 1 to the nearest negative
    one (0 on a clicked pixel or painted brush pixel); both are capped at ``truncate``. A sign
    without inputs gives a channel of all ``truncate`` ("no click anywhere near").
    """
    _check_size(height, width)
    if not (truncate > 0 and math.isfinite(truncate)):
        raise ValueError(f"truncate must be a positive number of pixels, got {truncate!r}")
    _check_inside(inputs, height, width)
    out = np.full((2, height, width), np.float32(truncate), np.float32)
    for channel, sign in ((0, True), (1, False)):
        mine = [inp for inp in inputs if bool(inp.positive) == sign]
        if not mine:
            continue
        src = np.full((height, width), 255, np.uint8)  # zeros mark the inputs
        for inp in mine:
            if isinstance(inp, Click):
                src[_pixel(inp.x, inp.y)] = 0
            else:
                rows, cols, d = _stroke_distance(inp, height, width, 0.0)
                src[rows, cols][d <= 0] = 0
        d = cv2.distanceTransform(src, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        np.minimum(d, np.float32(truncate), out=out[channel])
    return out


def n_channels(method: Method) -> int:
    """How many channels :func:`encode` returns for ``method`` (1 for gaussian, 2 for distance)."""
    if method == "gaussian":
        return 1
    if method == "distance":
        return 2
    raise ValueError(f"unknown encoding method {method!r}; choose one of {list(METHODS)}")


def encode(
    inputs: Sequence[Click | Stroke],
    height: int,
    width: int,
    method: Method = "gaussian",
    **kw: float,
) -> np.ndarray:
    """Encode ``inputs`` for an ``height x width`` image as float32 ``(n_channels(method), H, W)``.

    ``kw`` goes to the encoder: ``sigma`` for ``"gaussian"``, ``truncate`` for ``"distance"``.
    """
    n_channels(method)  # validates the name
    allowed = {"gaussian": {"sigma"}, "distance": {"truncate"}}[method]
    extra = set(kw) - allowed
    if extra:
        raise TypeError(f"encode(method={method!r}) got unexpected options {sorted(extra)}; it takes {sorted(allowed)}")
    if method == "gaussian":
        return gaussian_map(inputs, height, width, **kw)[None]
    return distance_maps(inputs, height, width, **kw)
