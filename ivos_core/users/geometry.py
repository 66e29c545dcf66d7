"""Mask geometry the simulated users share: inner / outer distances, spread-out point picking,
connected error regions. Masks are ``(H, W)``, read as bool; points are ``(row, col)``."""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from ivos_core.interactions import Click
from ivos_core.robot import error_masks

__all__ = ["inner_distance", "outer_distance"]


def inner_distance(mask: np.ndarray, image_border_is_boundary: bool = True) -> np.ndarray:
    """float32 ``(H, W)``: for each mask pixel, the Euclidean distance to the nearest non-mask pixel.

    0 outside the mask, 1 on the mask's outermost pixels. With ``image_border_is_boundary`` the
    mask is padded with a 1-pixel empty border first, so pixels on the image edge count as on the
    boundary (a user does not click on the very edge of the frame; the NoC robot does the same).
    """
    m = np.asarray(mask, dtype=bool).astype(np.uint8)
    if image_border_is_boundary:
        m = np.pad(m, 1)
    d = cv2.distanceTransform(m, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return d[1:-1, 1:-1] if image_border_is_boundary else d


def outer_distance(mask: np.ndarray) -> np.ndarray:
    """float32 ``(H, W)``: distance of each pixel to the nearest mask pixel (0 on the mask).

    An empty mask gives ``inf`` everywhere (no object to be near).
    """
    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return np.full(m.shape, np.inf, np.float32)
    return cv2.distanceTransform((~m).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def _click(row: int, col: int, positive: bool) -> Click:
    return Click(x=float(col), y=float(row), positive=bool(positive))


def _far_from(coords: np.ndarray, picked: Sequence[tuple[int, int]], d_min: float) -> np.ndarray:
    """Bool per row of ``coords`` ``(K, 2)``: at least ``d_min`` from every ``(row, col)`` in ``picked``."""
    keep = np.ones(len(coords), bool)
    for r, c in picked:
        keep &= (coords[:, 0] - r) ** 2 + (coords[:, 1] - c) ** 2 >= d_min * d_min
    return keep


def _random_spread(
    candidates: np.ndarray,
    n: int,
    rng: np.random.Generator,
    d_step: float,
    avoid: Sequence[tuple[int, int]] = (),
) -> list[tuple[int, int]]:
    """Up to ``n`` random rows of ``candidates`` ``(K, 2)``, each ``>= d_step`` from the others and ``avoid``.

    Fewer than ``n`` come back when the candidates run out (a small object holds few spread points).
    """
    coords = candidates[_far_from(candidates, avoid, d_step)] if len(avoid) else candidates
    picked: list[tuple[int, int]] = []
    while len(picked) < n and len(coords):
        r, c = (int(v) for v in coords[rng.integers(len(coords))])
        picked.append((r, c))
        coords = coords[_far_from(coords, [(r, c)], d_step)]
    return picked


def _farthest_spread(candidates: np.ndarray, n: int, rng: np.random.Generator, d_step: float) -> list[tuple[int, int]]:
    """Farthest-point sampling: a random first point, then each next one maximally far from all chosen.

    Stops early once the farthest remaining candidate is closer than ``d_step`` to a chosen point.
    """
    if n <= 0 or not len(candidates):
        return []
    pts = candidates.astype(np.float64)
    first = int(rng.integers(len(pts)))
    picked = [first]
    d2 = ((pts - pts[first]) ** 2).sum(axis=1)
    while len(picked) < n:
        nxt = int(np.argmax(d2))
        if d2[nxt] < d_step * d_step:
            break
        picked.append(nxt)
        d2 = np.minimum(d2, ((pts - pts[nxt]) ** 2).sum(axis=1))
    return [(int(candidates[i, 0]), int(candidates[i, 1])) for i in picked]


def _coords(m: np.ndarray) -> np.ndarray:
    """``(K, 2)`` int ``(row, col)`` of the true pixels of ``m`` in row-major order."""
    return np.argwhere(m)


def _error_regions(gt: np.ndarray, pred: np.ndarray, ignore: np.ndarray | None) -> list[tuple[np.ndarray, bool]]:
    """The connected (8-neighbour) error regions as ``(mask, is_false_negative)``, largest first."""
    regions: list[tuple[np.ndarray, bool]] = []
    for err, positive in zip(error_masks(gt, pred, ignore), (True, False)):
        n, labels = cv2.connectedComponents(err.astype(np.uint8), connectivity=8)
        regions += [(labels == k, positive) for k in range(1, n)]
    regions.sort(key=lambda rp: -int(rp[0].sum()))
    return regions
