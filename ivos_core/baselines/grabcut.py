"""GrabCut baseline (Rother et al. 2004, OpenCV) driven by clicks, strokes, a box or a mask.

The paper compares against GrabCut twice: as a first-frame segmenter with a box plus clicks
(§3.2) and as a corrector of a bad OSVOS mask (§3.3), where it "performs poorly without a
bounding box (pixels that are certain background)", so a box is built heuristically around all
positive clicks and the current mask (:func:`heuristic_box`).

Labels, in OpenCV's terms: clicks and strokes are hard seeds (``GC_FGD`` / ``GC_BGD``); the
prior for every other pixel comes, in order of precedence, from

1. ``box``: outside is certain background, inside probable foreground (``GC_INIT_WITH_RECT``
   semantics, expressed through the mask so seeds can be added);
2. ``prev_mask``: probable foreground where set, probable background elsewhere;
3. nothing: the whole image is probable background and a square of ``margin`` pixels around
   each positive input is probable foreground. (A box *around the clicks* with certain
   background outside would cut the object: clicks are interior points.)

Degenerate inputs do not raise: with no foreground candidate at all (only negatives, empty
prior) the result is empty; with no background candidate (a full-image box, a full mask) the
one-pixel image border becomes certain background so both colour models can be fitted.

Two uses, two entry points:

* :class:`GrabCutClickMethod` is the NoC baseline (``ivos eval interactive --method grabcut``):
  the standard click protocol of the interactive-segmentation literature. Every prediction starts
  from a probable-background labelling with the one-pixel image border as certain background and
  every click so far as a radius-5 hard seed, then runs 5 iterations of ``cv2.grabCut`` with
  ``GC_INIT_WITH_MASK``. Mode ``"rerun"`` starts from scratch each time; ``"continue"`` starts
  from the previous labelling (previous mask probable foreground). No box is ever applied: the
  box reset of §3.3 throws the previous mask away inside the box and measurably weakens the
  baseline (issue 12: NoC@90 9.30 with it vs 7.64 without on the 33 former GrabCut images).
  The default mode is the one that was stronger on the DEVELOPMENT set (COCO_MVal ``dev.txt``;
  numbers in ``docs/results/dev/grabcut-variants.json``), never chosen on a test set.
* :class:`GrabCutSegmenter` with ``box=heuristic_box(...)`` is the §3.3 corrector of a bad OSVOS
  mask (Table 3); ``ivos_core.interactive.methods.GrabCutMethod`` (``--method grabcut-box``) drives it and
  ``ivos_core.davis`` keeps using it for the worst-frame correction experiment.
"""

from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np

from ivos_core.interactions import Click, Stroke
from ivos_core.utils import as_rgb_uint8  # strict: uint8 only, grey/RGBA converted

__all__ = [
    "DEFAULT_NOC_MODE",
    "NOC_MODES",
    "GrabCutClickMethod",
    "GrabCutSegmenter",
    "click_seed_labels",
    "heuristic_box",
    "paint_inputs",
]

Box = tuple[int, int, int, int]


def _input_points(inp: Click | Stroke) -> list[tuple[float, float]]:
    return inp.dense_points(1.0) if isinstance(inp, Stroke) else inp.points()


def paint_inputs(
    label: np.ndarray,
    inputs: Sequence[Click | Stroke],
    click_radius: int,
    positive_value: int,
    negative_value: int,
) -> np.ndarray:
    """Paint clicks (disks of ``click_radius``) and strokes (their own radius) into ``label``
    ``(H, W)`` uint8, in input order (a later input overrides an earlier one). In place; returned."""
    for inp in inputs:
        if not isinstance(inp, (Click, Stroke)):
            raise TypeError(f"inputs must be Click or Stroke, got {type(inp).__name__}")
        val = positive_value if inp.positive else negative_value
        if isinstance(inp, Stroke):
            r = max(1, int(round(inp.radius)))
            pts = np.round(np.asarray(inp.points(), dtype=np.float64)).astype(np.int32)
            if len(pts) > 1:
                # OpenCV thickness is a diameter: 2r paints pixels within r of the polyline
                cv2.polylines(label, [pts.reshape(-1, 1, 2)], False, int(val), thickness=2 * r)
            for x, y in pts:
                cv2.circle(label, (int(x), int(y)), r, int(val), thickness=-1)
        else:
            cv2.circle(label, (int(round(inp.x)), int(round(inp.y))), int(click_radius), int(val), -1)
    return label


def heuristic_box(
    inputs: Sequence[Click | Stroke], mask: np.ndarray | None, margin: int = 10,
    shape: tuple[int, int] | None = None,
) -> Box:
    """The paper's §3.3 box: bounding box of all positive inputs and the current mask.

    Args:
        inputs: clicks/strokes; only positive ones count (stroke vertices and interpolated points).
        mask: ``(H, W)`` current segmentation (any dtype, non-zero = foreground) or None (then
            ``shape`` is required).
        margin: pixels added on every side before clipping to the image.
        shape: ``(H, W)`` when ``mask`` is None.

    Returns:
        ``(x0, y0, x1, y1)`` inclusive pixel corners, clipped to the image. With no positive
        input and an empty mask there is nothing to enclose: the whole image is returned.
    """
    if mask is not None:
        m = np.asarray(mask)
        if m.ndim != 2:
            raise ValueError(f"mask must be 2-D (H, W), got shape {m.shape}")
        h, w = m.shape
    elif shape is not None:
        h, w = shape
        m = None
    else:
        raise ValueError("heuristic_box needs the mask or shape=(H, W) to know the image size")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    xs: list[float] = []
    ys: list[float] = []
    for inp in inputs:
        if inp.positive:
            for x, y in _input_points(inp):
                xs.append(x)
                ys.append(y)
    if m is not None and m.any():
        rows = np.flatnonzero(m.any(axis=1))
        cols = np.flatnonzero(m.any(axis=0))
        ys += [rows[0], rows[-1]]
        xs += [cols[0], cols[-1]]
    if not xs:
        return (0, 0, w - 1, h - 1)
    x0 = max(0, int(math.floor(min(xs))) - margin)
    y0 = max(0, int(math.floor(min(ys))) - margin)
    x1 = min(w - 1, int(math.ceil(max(xs))) + margin)
    y1 = min(h - 1, int(math.ceil(max(ys))) + margin)
    return (x0, y0, x1, y1)


class GrabCutSegmenter:
    """OpenCV GrabCut with user inputs as hard seeds (see the module docstring for the priors).

    Stateless: :meth:`predict` takes the image each call (a
    :data:`~ivos_core.protocols.SegmentFn`); :class:`GrabCutClickMethod` and
    :class:`ivos_core.interactive.methods.GrabCutMethod` wrap it as an
    :class:`~ivos_core.protocols.InteractiveMethod`.

    Args:
        click_radius: radius in pixels of the hard-seed disk painted for each click.
        iterations: GrabCut EM iterations (OpenCV's ``iterCount``).
        margin: pixels of probable foreground around each positive input when there is neither
            a box nor a previous mask.
        prev_mask_in_box: with both ``box`` and ``prev_mask``, label box pixels outside the mask
            probable background instead of probable foreground (pure rect semantics when False,
            the default, which is what the paper's §3.3 baseline does).
    """

    def __init__(
        self,
        click_radius: int = 5,
        iterations: int = 5,
        margin: int = 10,
        *,
        prev_mask_in_box: bool = False,
    ) -> None:
        if click_radius < 1:
            raise ValueError(f"click_radius must be >= 1 pixel, got {click_radius}")
        if iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        self.click_radius = int(click_radius)
        self.iterations = int(iterations)
        self.margin = int(margin)
        self.prev_mask_in_box = bool(prev_mask_in_box)

    def __repr__(self) -> str:
        return (
            f"GrabCutSegmenter(click_radius={self.click_radius}, iterations={self.iterations}, "
            f"margin={self.margin}, prev_mask_in_box={self.prev_mask_in_box})"
        )

    def initial_labels(
        self,
        shape: tuple[int, int],
        inputs: Sequence[Click | Stroke],
        prev_mask: np.ndarray | None = None,
        box: Box | None = None,
    ) -> np.ndarray:
        """The ``(H, W)`` uint8 GrabCut label map (``cv2.GC_*``) before optimisation."""
        h, w = shape
        if box is not None:
            x0, y0, x1, y1 = (int(v) for v in box)
            if not (0 <= x0 <= x1 and 0 <= y0 <= y1):
                raise ValueError(f"box must be (x0, y0, x1, y1) with x0 <= x1, y0 <= y1, got {box}")
            x0, y0, x1, y1 = x0, y0, min(x1, w - 1), min(y1, h - 1)
            if x0 > w - 1 or y0 > h - 1:
                raise ValueError(f"box {box} lies outside the {w}x{h} image")
            lab = np.full((h, w), cv2.GC_BGD, np.uint8)
            lab[y0 : y1 + 1, x0 : x1 + 1] = cv2.GC_PR_FGD
            if prev_mask is not None and self.prev_mask_in_box:
                inside = lab == cv2.GC_PR_FGD
                lab[inside & ~prev_mask] = cv2.GC_PR_BGD
        elif prev_mask is not None:
            lab = np.where(prev_mask, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
        else:
            lab = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
            for inp in inputs:
                if inp.positive:
                    for x, y in _input_points(inp):
                        cx, cy = int(round(x)), int(round(y))
                        cv2.rectangle(
                            lab,
                            (cx - self.margin, cy - self.margin),
                            (cx + self.margin, cy + self.margin),
                            cv2.GC_PR_FGD,
                            -1,
                        )
        return paint_inputs(lab, inputs, self.click_radius, cv2.GC_FGD, cv2.GC_BGD)

    def predict(
        self,
        image: np.ndarray,
        inputs: Sequence[Click | Stroke],
        prev_mask: np.ndarray | None = None,
        box: Box | None = None,
    ) -> np.ndarray:
        """Segment ``image`` ``(H, W, 3)`` uint8 RGB; returns an ``(H, W)`` bool mask.

        ``inputs`` are all clicks/strokes so far (pixel coordinates, x right, y down);
        ``prev_mask`` ``(H, W)`` (non-zero = foreground) is the current mask; ``box`` is
        ``(x0, y0, x1, y1)`` inclusive pixel corners (see :func:`heuristic_box`).
        """
        img = as_rgb_uint8(image)
        h, w = img.shape[:2]
        pm = None
        if prev_mask is not None:
            pm = np.asarray(prev_mask)
            if pm.shape != (h, w):
                raise ValueError(f"prev_mask shape {pm.shape} does not match the image's (H, W) = {(h, w)}")
            pm = pm.astype(bool)
        lab = self.initial_labels((h, w), list(inputs), pm, box)
        return run_grabcut(img, lab, self.iterations)


def run_grabcut(img: np.ndarray, lab: np.ndarray, iterations: int) -> np.ndarray:
    """Optimise the label map ``lab`` (``cv2.GC_*``, modified in place) on ``img``; bool mask.

    Why the guards: OpenCV raises on label maps it cannot fit (no foreground or background
    candidate, fewer than 5 samples for a 5-component GMM); an evaluation must not crash on them.
    """
    h, w = lab.shape
    fg_cand = (lab == cv2.GC_FGD) | (lab == cv2.GC_PR_FGD)
    n_fg = int(np.count_nonzero(fg_cand))
    if n_fg == 0:
        return np.zeros((h, w), bool)
    bg_cand = ~fg_cand
    if not bg_cand.any():
        border = np.zeros((h, w), bool)
        border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = True
        lab[border & (lab == cv2.GC_PR_FGD)] = cv2.GC_BGD
        bg_cand = (lab == cv2.GC_BGD) | (lab == cv2.GC_PR_BGD)
    # Each colour model is a 5-component GMM initialised by k-means: it needs >= 5 samples,
    # and with nothing uncertain there is nothing to optimise.
    uncertain = (lab == cv2.GC_PR_FGD) | (lab == cv2.GC_PR_BGD)
    if n_fg < 5 or int(np.count_nonzero(bg_cand)) < 5 or not uncertain.any():
        return (lab == cv2.GC_FGD) | (lab == cv2.GC_PR_FGD)
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    cv2.grabCut(img, lab, None, bgd, fgd, int(iterations), cv2.GC_INIT_WITH_MASK)
    return (lab == cv2.GC_FGD) | (lab == cv2.GC_PR_FGD)


#: Modes of :class:`GrabCutClickMethod` (see its docstring).
NOC_MODES: tuple[str, ...] = ("rerun", "continue")
#: The mode that was stronger on the DEVELOPMENT set COCO_MVal dev.txt (20-click cap, first 41
#: instances): rerun NoC@85/90 10.80 / 14.07 vs continue 12.63 / 15.44; paired NoC@90 difference
#: continue - rerun +1.37, bootstrap 95% interval [0.51, 2.39] (``docs/results/dev/grabcut-variants.json``).
DEFAULT_NOC_MODE = "rerun"


def click_seed_labels(
    shape: tuple[int, int],
    inputs: Sequence[Click | Stroke],
    prev_mask: np.ndarray | None = None,
    *,
    click_radius: int = 5,
) -> np.ndarray:
    """The NoC baseline's ``(H, W)`` uint8 GrabCut label map before optimisation.

    Probable background everywhere (or, with ``prev_mask``, probable foreground where it is set),
    the one-pixel image border certain background (so the background model always has samples
    and a lone positive seed cannot grow into the whole image), then every input as a hard seed
    (clicks: disks of ``click_radius``; a later input overrides an earlier one, and a click on the
    border overrides the border).
    """
    h, w = shape
    if prev_mask is not None:
        lab = np.where(np.asarray(prev_mask, dtype=bool), cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    else:
        lab = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
    lab[0, :] = lab[-1, :] = cv2.GC_BGD
    lab[:, 0] = lab[:, -1] = cv2.GC_BGD
    return paint_inputs(lab, inputs, click_radius, cv2.GC_FGD, cv2.GC_BGD)


class GrabCutClickMethod:
    """The NoC-protocol GrabCut baseline: clicks as hard seeds, no box, the previous mask kept.

    An :class:`~ivos_core.protocols.InteractiveMethod` (``name``, ``set_image``,
    ``predict(inputs, prev_mask)``) for :func:`ivos_core.evaluation.evaluate_interactive`. Each call labels the image with
    :func:`click_seed_labels` and runs ``iterations`` of ``cv2.grabCut`` (``GC_INIT_WITH_MASK``):

    * ``mode="rerun"``: from scratch with all clicks so far (the previous mask is not a prior).
      The previous result is still not thrown away: every click that made it is a hard seed.
    * ``mode="continue"``: on top of the previous labelling (previous mask probable foreground,
      the rest probable background) plus all seeds, so a region segmented earlier stays unless
      the colour models or a negative click remove it.

    Why this and not the §3.3 box: re-applying the heuristic box with rect semantics from the
    second click on relabels everything inside it probable foreground, discarding the previous
    mask; that is the paper's worst-frame corrector (Table 3), not the standard NoC baseline.
    """

    def __init__(self, mode: str = DEFAULT_NOC_MODE, *, click_radius: int = 5, iterations: int = 5) -> None:
        if mode not in NOC_MODES:
            raise ValueError(f"GrabCut NoC mode must be one of {', '.join(NOC_MODES)}, got {mode!r}")
        if click_radius < 1:
            raise ValueError(f"click_radius must be >= 1 pixel, got {click_radius}")
        if iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        self.mode = mode
        self.click_radius = int(click_radius)
        self.iterations = int(iterations)
        self.name = f"grabcut-{mode}"
        self._image: np.ndarray | None = None

    def __repr__(self) -> str:
        return (
            f"GrabCutClickMethod(mode={self.mode!r}, click_radius={self.click_radius}, "
            f"iterations={self.iterations})"
        )

    def set_image(self, image: np.ndarray) -> None:
        self._image = as_rgb_uint8(image)

    def predict(self, inputs: Sequence[Click | Stroke], prev_mask: np.ndarray | None = None) -> np.ndarray:
        """All inputs so far (+ the previous mask in ``continue`` mode) -> ``(H, W)`` bool mask."""
        if self._image is None:
            raise RuntimeError("call set_image(image) before predict()")
        h, w = self._image.shape[:2]
        prior = None
        if self.mode == "continue" and prev_mask is not None:
            prior = np.asarray(prev_mask)
            if prior.shape != (h, w):
                raise ValueError(f"prev_mask shape {prior.shape} does not match the image's (H, W) = {(h, w)}")
            prior = prior.astype(bool)
        lab = click_seed_labels((h, w), list(inputs), prior, click_radius=self.click_radius)
        return run_grabcut(self._image, lab, self.iterations)
