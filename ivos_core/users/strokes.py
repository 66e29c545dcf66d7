"""Strokes and highlighting (paper §4.1: users click, stroke and highlight): a smooth stroke inside
a region, a back-and-forth highlighter scribble, and correction strokes inside error regions.

Every output is a :class:`~ivos_core.interactions.Stroke` with integer-valued vertices inside
the image whose brush stays inside its region. Randomness comes only from the
``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np

from ivos_core.interactions import Stroke
from ivos_core.users.geometry import _coords, _error_regions, inner_distance
from ivos_core.utils import as_bool_mask as _as_mask

__all__ = ["simulate_stroke", "simulate_highlight", "sample_correction_stroke"]


def _segment_pixels(p0: tuple[float, float], p1: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Rows and cols of the pixels a straight segment between two ``(row, col)`` points passes."""
    n = max(1, int(math.ceil(math.hypot(p1[0] - p0[0], p1[1] - p0[1]))))
    t = np.linspace(0.0, 1.0, n + 1)
    rows = np.floor(p0[0] + (p1[0] - p0[0]) * t + 0.5).astype(np.int64)
    cols = np.floor(p0[1] + (p1[1] - p0[1]) * t + 0.5).astype(np.int64)
    return rows, cols


def _segment_inside(safe: np.ndarray, p0: tuple[float, float], p1: tuple[float, float]) -> bool:
    rows, cols = _segment_pixels(p0, p1)
    h, w = safe.shape
    if rows.min() < 0 or cols.min() < 0 or rows.max() >= h or cols.max() >= w:
        return False
    return bool(safe[rows, cols].all())


def _brush_fit(depth: np.ndarray, radius: float) -> tuple[np.ndarray, float]:
    """The pixels where a brush of ``radius`` stays inside the region, and the radius used.

    A brush centred on a pixel of depth ``d`` (distance to the nearest outside pixel) stays inside
    when ``radius < d``. In a region too thin for ``radius`` the brush shrinks to fit
    (``max(0.5, depth - 1)``, at least the centre pixel).
    """
    dmax = float(depth.max())
    if dmax <= 0:
        raise ValueError("the region is empty; there is nothing to draw a stroke on")
    if radius >= dmax:
        radius = max(0.5, dmax - 1.0)
    return depth > radius, float(radius)


def _stroke(points_rc: Sequence[tuple[int, int]], positive: bool, radius: float) -> Stroke:
    pts = [(float(c), float(r)) for r, c in points_rc]
    return Stroke(points=pts, positive=bool(positive), radius=float(radius))


def simulate_stroke(
    mask: np.ndarray,
    rng: np.random.Generator,
    positive: bool = True,
    n_points: int = 8,
    radius: float = 3.0,
    step: float | None = None,
) -> Stroke:
    """A smooth stroke of up to ``n_points`` vertices drawn inside ``mask`` with a brush of ``radius``.

    Starts at a random pixel deep enough for the brush and walks with a slowly turning heading:
    at each step it tries a handful of headings within +-60 degrees of the current one and takes
    the one whose end is deepest in the region (plus noise), so the path drifts towards the
    region's medial axis (skeleton-like) and never doubles back; a step whose segment would let
    the brush leave the region is refused (then wider turns are tried, then the walk stops). The
    whole brush therefore stays inside ``mask``; for thin regions the radius shrinks to fit.
    ``step`` (pixels per segment) defaults to a quarter of the square root of the usable area.
    """
    m = _as_mask(mask, "mask")
    if n_points < 1:
        raise ValueError(f"n_points must be >= 1, got {n_points}")
    depth = inner_distance(m)
    safe, radius = _brush_fit(depth, radius)
    cand = _coords(safe)
    if step is None:
        step = max(2.0, math.sqrt(len(cand)) / 4.0)
    r, c = (int(v) for v in cand[rng.integers(len(cand))])
    path = [(r, c)]
    heading = float(rng.uniform(0, 2 * math.pi))
    while len(path) < n_points:
        nxt = _next_vertex(safe, depth, path[-1], heading, step, rng)
        if nxt is None:
            break
        heading = math.atan2(nxt[0] - path[-1][0], nxt[1] - path[-1][1])
        path.append(nxt)
    return _stroke(path, positive, radius)


def _next_vertex(
    safe: np.ndarray,
    depth: np.ndarray,
    cur: tuple[int, int],
    heading: float,
    step: float,
    rng: np.random.Generator,
    n_try: int = 8,
) -> tuple[int, int] | None:
    """The next stroke vertex ``step`` px from ``cur``, turning gently; ``None`` when boxed in."""
    for spread in (math.pi / 3, math.pi / 2, 2 * math.pi / 3):
        best, best_score = None, -math.inf
        for ang in heading + rng.uniform(-spread, spread, n_try):
            for length in (step, step / 2):
                p = (int(round(cur[0] + length * math.sin(ang))), int(round(cur[1] + length * math.cos(ang))))
                if p != cur and _segment_inside(safe, cur, p):
                    score = float(depth[p]) + float(rng.uniform(0, 2))
                    if score > best_score:
                        best, best_score = p, score
                    break
        if best is not None:
            return best
    return None


def simulate_highlight(
    mask: np.ndarray,
    rng: np.random.Generator,
    radius: float | None = None,
    positive: bool = True,
    n_orientations: int = 6,
) -> Stroke:
    """A highlighter scribble: one back-and-forth (zig-zag) stroke covering much of ``mask``.

    Rows of the zig-zag run across the object at a random orientation, ``2 * radius`` apart so
    neighbouring passes of the brush touch; each pass spans the widest run of brush-safe pixels on
    its line, and consecutive passes join end to start. A pass or join that would let the brush
    leave the object ends the scribble there, so it stays inside; of ``n_orientations`` random
    orientations the one covering the most pixels is kept. ``radius`` defaults to a quarter of
    the object's inner radius, clipped to 3..20 px (a broad brush, as highlighting users use).
    """
    m = _as_mask(mask, "mask")
    depth = inner_distance(m)
    if radius is None:
        radius = float(np.clip(depth.max() / 4.0, 3.0, 20.0))
    safe, radius = _brush_fit(depth, radius)
    best: list[tuple[int, int]] = []
    best_cover = -1
    for _ in range(max(1, n_orientations)):
        path = _zigzag(safe, float(rng.uniform(0, math.pi)), 2.0 * radius)
        cover = _brush_cover(path, radius, m.shape)
        if cover > best_cover:
            best, best_cover = path, cover
    if not best:  # no pass found (tiny or sliver region): a dab at the deepest pixel
        best = [divmod(int(np.argmax(np.where(safe, depth, -1))), m.shape[1])]
    return _stroke(best, positive, radius)


def _zigzag(safe: np.ndarray, angle: float, spacing: float) -> list[tuple[int, int]]:
    """Vertices ``(row, col)`` of a zig-zag over ``safe`` with passes along direction ``angle``.

    Each pass takes the longest run of its line that the brush can reach from the end of the
    previous pass, or else from its start by retracing it (as a user's highlighter doubles back
    around a notch); join and pass both inside ``safe``. The scribble ends at the first line
    with no reachable run.
    """
    pix = _coords(safe).astype(np.float64)
    u_dir = np.array([math.sin(angle), math.cos(angle)])  # along a pass, in (row, col)
    v_dir = np.array([math.cos(angle), -math.sin(angle)])  # across passes
    u, v = pix @ u_dir, pix @ v_dir
    path: list[tuple[int, int]] = []
    span = float(v.max() - v.min())
    first = float(v.min()) + (span % spacing) / 2.0  # centre the passes across the object
    for v0 in np.arange(first, float(v.max()) + 1e-9, spacing):
        on = np.abs(v - v0) <= 0.71  # a band sqrt(2) px wide: an 8-connected line at any angle
        if not on.any():
            continue
        step = _next_pass(safe, path, _runs(pix[on], u[on]))
        if step is None:
            if path:
                return path
            continue
        for p in step:
            if not path or p != path[-1]:
                path.append(p)
    return path


def _next_pass(
    safe: np.ndarray,
    path: list[tuple[int, int]],
    runs: list[tuple[tuple[int, int], tuple[int, int]]],
) -> list[tuple[int, int]] | None:
    """Vertices to append for the next pass (optional retrace point, pass start, pass end)."""
    origins = [[]] if not path else [[path[-1]]] + ([[path[-1], path[-2]]] if len(path) >= 2 else [])
    for a, b in runs:  # longest first
        if not _segment_inside(safe, a, b):
            continue
        for via in origins:
            o = via[-1] if via else None
            near_first = o is None or math.dist(o, a) <= math.dist(o, b)
            for s0, s1 in ((a, b), (b, a)) if near_first else ((b, a), (a, b)):
                if o is None or _segment_inside(safe, o, s0):
                    return via[1:] + [s0, s1]
    return None


def _runs(pts: np.ndarray, u: np.ndarray) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Ends ``(start, stop)`` of the gap-free runs of ``pts`` along coordinate ``u``, longest first.

    A gap of more than 1.5 px along the line splits runs (the line left the region and came back).
    """
    order = np.argsort(u, kind="stable")
    u, pts = u[order], pts[order]
    cuts = np.flatnonzero(np.diff(u) > 1.5) + 1
    starts = np.concatenate([[0], cuts]).astype(np.int64)
    stops = np.concatenate([cuts, [len(u)]]).astype(np.int64) - 1
    runs = sorted(zip(starts, stops), key=lambda ab: -(u[ab[1]] - u[ab[0]]))
    return [
        ((int(pts[i, 0]), int(pts[i, 1])), (int(pts[j, 0]), int(pts[j, 1])))
        for i, j in runs
    ]


def _brush_cover(path: Sequence[tuple[int, int]], radius: float, shape: tuple[int, ...]) -> int:
    """How many pixels a brush of ``radius`` paints along ``path`` (``(row, col)`` vertices)."""
    if not path:
        return 0
    src = np.full(shape, 255, np.uint8)
    for p0, p1 in zip(path, path[1:] or path):
        rows, cols = _segment_pixels(p0, p1)
        src[rows, cols] = 0
    return int((cv2.distanceTransform(src, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) <= radius).sum())


def sample_correction_stroke(
    gt: np.ndarray,
    pred: np.ndarray,
    rng: np.random.Generator,
    radius: float = 3.0,
    n_points: int = 8,
    ignore: np.ndarray | None = None,
) -> Stroke | None:
    """A correction stroke inside one error region of ``pred`` (paper §4.1 stroke training examples).

    Picks an error region with probability proportional to its area and draws
    :func:`simulate_stroke` inside it: positive in a false-negative region, negative in a
    false-positive one. ``None`` when ``pred`` has no error outside ``ignore``.
    """
    regions = _error_regions(gt, pred, ignore)
    if not regions:
        return None
    areas = np.array([int(r.sum()) for r, _ in regions], np.float64)
    region, positive = regions[int(rng.choice(len(regions), p=areas / areas.sum()))]
    return simulate_stroke(region, rng, positive=positive, n_points=n_points, radius=radius)
