"""After the network: the steps that turn its logits into the mask a user sees.

Order matters and is fixed here: the colour cue joins the logit (the user's labels are its surest
samples), the CRF smooths the probability, GrabCut snaps the boundary within a band, the user's
labels are clamped last so no step can overrule them, and only then are unclicked components
dropped (when asked: a correction of a propagated mask must keep them).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ivos_core.interactions import Click, Stroke
from ivos_core.interactive.geometry import constraint_masks
from ivos_core.interactive.options import SegmenterOptions

__all__ = ["finish", "keep_outside", "sigmoid"]


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.clip(logits, -60, 60)))).astype(np.float32)


def finish(
    logits: np.ndarray,
    inputs: Sequence[Click | Stroke],
    image: np.ndarray,
    options: SegmenterOptions,
    colour_bins: Callable[[], np.ndarray],
    *,
    hard: bool,
    crf: bool,
    keep_clicked: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """(prob float32, mask bool) at the image's size from the network's ``logits`` there.

    ``colour_bins``: the image's colour index, computed on first use and cached by the caller.
    ``hard`` / ``crf`` / ``keep_clicked``: this call's choices (the options' unless overridden).
    """
    h, w = logits.shape
    prob = sigmoid(logits)
    fg = bg = None
    if hard or options.colour_weight > 0 or options.grabcut_band is not None:
        fg, bg = constraint_masks(inputs, h, w, click_radius=options.click_radius)
    if options.colour_weight > 0:
        from ivos_core.interactive.colour import colour_log_odds

        seeds = prob.copy()  # the user's labels are the surest colour samples
        seeds[fg], seeds[bg] = 1.0, 0.0
        prob = sigmoid(logits + options.colour_weight * colour_log_odds(colour_bins(), seeds))
    if crf:
        from ivos_core.interactive.crf import CRFParams, refine

        prob = refine(image, prob, CRFParams(bilateral_compat=options.crf_weight), mode=options.crf_mode).astype(np.float32)
    if options.grabcut_band is not None:
        from ivos_core.interactive.grabcut_refine import grabcut_refine

        before = prob >= options.threshold
        after = grabcut_refine(image, before, fg, bg, band=options.grabcut_band, iterations=options.grabcut_iterations,
                               max_side=options.grabcut_max_side)
        flipped = before != after
        prob[flipped] = after[flipped].astype(np.float32)
    if hard:
        prob[fg] = 1.0
        prob[bg] = 0.0
    mask = prob >= options.threshold
    if keep_clicked:
        from ivos_core.interactive.colour import keep_clicked_components

        points = [p for inp in inputs if inp.positive for p in inp.points()]
        kept = keep_clicked_components(mask, points)
        prob[mask & ~kept] = 0.0
        mask = kept
    return prob, mask


def _near_inputs(shape: tuple[int, ...], inputs: Sequence[Click | Stroke], radius: float) -> np.ndarray:
    """The pixels within ``radius`` (fraction of the image diagonal) of any point of ``inputs``."""
    import cv2

    h, w = shape[:2]
    r = max(1, int(round(radius * float(np.hypot(h, w)))))
    near = np.zeros((h, w), np.uint8)
    for inp in inputs:
        for x, y in inp.points():
            cv2.circle(near, (int(round(x)), int(round(y))), r, 1, thickness=-1)
    return near.astype(bool)


def keep_outside(
    prob: np.ndarray, mask: np.ndarray, prev_mask: np.ndarray, inputs: Sequence[Click | Stroke], radius: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Only the disks of ``radius`` (fraction of the image diagonal) around the inputs change; the
    previous mask stands everywhere else (a local correction of a mostly right mask)."""
    far = ~_near_inputs(mask.shape, inputs, radius)
    prev = np.asarray(prev_mask) > 0.5
    prob = prob.copy()
    prob[far] = prev[far].astype(np.float32)
    return prob, np.where(far, prev, mask)


def keep_changes_near(
    prob: np.ndarray, mask: np.ndarray, prev_mask: np.ndarray, newest: Click | Stroke, radius: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Keep only the changes (``mask`` XOR ``prev_mask``) whose connected region reaches within
    ``radius`` (fraction of the diagonal) of the ``newest`` input; the others revert."""
    import cv2

    prev = np.asarray(prev_mask) > 0.5
    changed = np.asarray(mask, bool) != prev
    if not changed.any():
        return prob, mask
    _, labels = cv2.connectedComponents(changed.astype(np.uint8), connectivity=8)
    hit = np.unique(labels[_near_inputs(changed.shape, [newest], radius) & changed])
    keep = np.isin(labels, hit[hit > 0]) & changed
    revert = changed & ~keep
    if not revert.any():
        return prob, mask
    prob = prob.copy()
    prob[revert] = prev[revert].astype(np.float32)
    return prob, np.where(revert, prev, mask)
