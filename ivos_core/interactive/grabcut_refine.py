"""GrabCut as the last refinement of a network's mask: the network decides *where* the object is,
iterated colour models and a contrast-sensitive graph cut decide *where its boundary runs*.

Why: a small network trained from scratch finds the object after one or two clicks (far better
than GrabCut there) but its boundary, predicted at a quarter of the input resolution, is soft;
GrabCut's colour GMMs and graph cut are what reach 90 % IoU on clean-boundary objects. Handing
the network's mask to GrabCut as its initial labelling combines the two:

* pixels within ``band`` (a fraction of the image diagonal) of the mask's boundary are
  *probable* foreground/background (as the network says) - GrabCut may flip them;
* pixels farther inside / outside are *certain* foreground/background (the network's decision
  stands; a user corrects it with a click, which moves the network, not just the boundary);
* every click / stroke is a certain seed;
* GrabCut runs on the crop around the mask grown by ``2 * band`` (its colour models see the
  object and a ring of its surroundings, as GrabCut's box would, and a large image costs what
  its object costs).

``band >= 1`` makes every pixel probable: plain GrabCut initialised with the network's mask.

``max_side``: GrabCut's cost grows with the crop's area, and an interactive app with a large
object (or many scattered clicks) pays seconds per click at 854x480. With ``max_side`` the crop is
downscaled so its longer side is at most that for the graph cut, and only the *probable* pixels take
the upscaled result: the certain ones (the network's interior and exterior, the seeds) stay
exactly as they were. A speed setting with its own dev measurement, off by default.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["grabcut_refine"]


def grabcut_refine(
    image: np.ndarray,
    mask: np.ndarray,
    force_fg: np.ndarray | None = None,
    force_bg: np.ndarray | None = None,
    *,
    band: float = 0.03,
    iterations: int = 3,
    max_side: int | None = None,
) -> np.ndarray:
    """The mask after GrabCut refinement, (H, W) bool.

    ``image``: (H, W, 3) uint8 RGB; ``mask``: the network's (H, W) bool mask; ``force_fg`` /
    ``force_bg``: user-labelled pixels (certain seeds). An empty mask is returned as is
    (there is no object to refine; a positive click will give one).
    """
    from ivos_core.baselines.grabcut import run_grabcut

    img = np.asarray(image)
    m = np.asarray(mask, dtype=bool)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got shape {img.shape} dtype {img.dtype}")
    if m.shape != img.shape[:2]:
        raise ValueError(f"mask shape {m.shape} does not match the image's (H, W) = {img.shape[:2]}")
    if not (band > 0 and math.isfinite(band)):
        raise ValueError(f"band must be a positive fraction of the image diagonal, got {band}")
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    if max_side is not None and max_side < 16:
        raise ValueError(f"max_side must be >= 16 pixels (or None), got {max_side}")
    if not m.any():
        return m.copy()
    h, w = m.shape
    lab = np.where(m, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    if band < 1.0:
        b = max(2.0, band * math.hypot(h, w))
        inner = cv2.distanceTransform(m.astype(np.uint8), cv2.DIST_L2, 3)
        outer = cv2.distanceTransform((~m).astype(np.uint8), cv2.DIST_L2, 3)
        lab[m & (inner > b)] = cv2.GC_FGD
        lab[~m & (outer > b)] = cv2.GC_BGD
        ys, xs = np.nonzero(m)
        g = int(math.ceil(2 * b))
        y0, y1 = max(0, ys.min() - g), min(h, ys.max() + 1 + g)
        x0, x1 = max(0, xs.min() - g), min(w, xs.max() + 1 + g)
    else:
        y0, y1, x0, x1 = 0, h, 0, w
    if force_fg is not None:
        lab[np.asarray(force_fg, dtype=bool)] = cv2.GC_FGD
    if force_bg is not None:
        lab[np.asarray(force_bg, dtype=bool)] = cv2.GC_BGD
    out = m.copy()
    crop_lab = np.ascontiguousarray(lab[y0:y1, x0:x1])
    crop_img = np.ascontiguousarray(img[y0:y1, x0:x1, ::-1])  # OpenCV wants BGR
    out[y0:y1, x0:x1] = _grabcut_at_most(crop_img, crop_lab, iterations, max_side)
    if force_fg is not None:  # seeds outside the crop (a click far from the mask) still count
        out |= np.asarray(force_fg, dtype=bool)
    return out


def _grabcut_at_most(img_bgr: np.ndarray, lab: np.ndarray, iterations: int, max_side: int | None) -> np.ndarray:
    """GrabCut's (h, w) bool result on ``img_bgr`` with labelling ``lab``, run on a copy downscaled
    to ``max_side`` when the crop is larger; certain labels are kept at full resolution."""
    from ivos_core.baselines.grabcut import run_grabcut

    h, w = lab.shape
    if max_side is None or max(h, w) <= max_side:
        return run_grabcut(img_bgr, lab, iterations)
    s = max_side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    small_img = cv2.resize(img_bgr, size, interpolation=cv2.INTER_AREA)
    small_lab = cv2.resize(lab, size, interpolation=cv2.INTER_NEAREST)
    if not ((small_lab == cv2.GC_FGD) | (small_lab == cv2.GC_PR_FGD)).any():
        return run_grabcut(img_bgr, lab, iterations)  # too thin to survive the downscale
    small = run_grabcut(small_img, small_lab, iterations).astype(np.float32)
    up = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) > 0.5
    return np.where(lab == cv2.GC_FGD, True, np.where(lab == cv2.GC_BGD, False, up))
