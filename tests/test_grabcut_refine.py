"""GrabCut boundary refinement of a network's mask (ivos_core.interactive.grabcut_refine)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ivos_core.data.synthetic import synthetic_image
from ivos_core.interactive.grabcut_refine import grabcut_refine
from ivos_core.metrics import iou


def _blurred_guess(mask: np.ndarray, grow: int) -> np.ndarray:
    """A network-like mask: the object grown by ``grow`` px (a soft, too-wide boundary)."""
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    return cv2.dilate(mask.astype(np.uint8), k).astype(bool)


def test_refinement_snaps_a_too_wide_boundary_to_the_object():
    s = synthetic_image(np.random.default_rng(3))
    guess = _blurred_guess(s.mask, 6)
    refined = grabcut_refine(s.image, guess, band=0.04, iterations=3)
    assert iou(refined, s.mask) > iou(guess, s.mask) + 0.05
    assert iou(refined, s.mask) > 0.85


def test_pixels_beyond_the_band_keep_the_networks_decision():
    s = synthetic_image(np.random.default_rng(4))
    guess = _blurred_guess(s.mask, 4)
    refined = grabcut_refine(s.image, guess, band=0.02, iterations=3)
    h, w = guess.shape
    b = 0.02 * np.hypot(h, w)
    outer = cv2.distanceTransform((~guess).astype(np.uint8), cv2.DIST_L2, 3)
    inner = cv2.distanceTransform(guess.astype(np.uint8), cv2.DIST_L2, 3)
    assert not refined[~guess & (outer > b + 1)].any()
    assert refined[guess & (inner > b + 1)].all()


def test_seeds_win_and_an_empty_mask_stays_empty():
    s = synthetic_image(np.random.default_rng(5))
    guess = _blurred_guess(s.mask, 3)
    fg = np.zeros_like(guess)
    bg = np.zeros_like(guess)
    ys, xs = np.nonzero(guess)
    bg[ys[0], xs[0]] = True  # a negative seed on a mask pixel
    fg[0:3, 0:3] = True  # a positive seed far outside the mask
    refined = grabcut_refine(s.image, guess, fg, bg, band=0.03)
    assert not refined[ys[0], xs[0]]
    assert refined[0:3, 0:3].all()
    empty = np.zeros_like(guess)
    assert not grabcut_refine(s.image, empty, band=0.03).any()


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan")])
def test_bad_band_is_refused(bad):
    s = synthetic_image(np.random.default_rng(0))
    with pytest.raises(ValueError, match="band"):
        grabcut_refine(s.image, s.mask, band=bad)


def test_wrong_shapes_are_refused():
    s = synthetic_image(np.random.default_rng(0))
    with pytest.raises(ValueError, match="mask shape"):
        grabcut_refine(s.image, s.mask[:-1], band=0.03)
    with pytest.raises(ValueError, match="uint8 RGB"):
        grabcut_refine(s.image[..., 0], s.mask, band=0.03)


def test_segmenter_applies_the_refinement_after_the_network():
    from ivos_core.interactions import Click
    from ivos_core.interactive.segmenter import InteractiveSegmenter, constraint_masks
    from ivos_core.shipped import shipped_model

    ckpt = shipped_model().interactive
    s = synthetic_image(np.random.default_rng(6))
    plain = InteractiveSegmenter.from_checkpoint(ckpt, device="cpu")
    refined = InteractiveSegmenter.from_checkpoint(ckpt, device="cpu", grabcut_band=0.03)
    ys, xs = np.nonzero(s.mask)
    clicks = [Click(x=float(xs[len(xs) // 2]), y=float(ys[len(ys) // 2]))]
    plain.set_image(s.image)
    refined.set_image(s.image)
    a = plain.predict(clicks)
    b = refined.predict(clicks)
    assert a.mask.any()
    fg, bg = constraint_masks(clicks, *a.mask.shape, click_radius=3)
    want = grabcut_refine(s.image, a.mask, fg, bg, band=0.03, iterations=3)
    assert np.array_equal(b.mask, want)
    assert ((b.prob >= 0.5) == b.mask).all()
    with pytest.raises(ValueError, match="grabcut_band"):
        InteractiveSegmenter.from_checkpoint(ckpt, device="cpu", grabcut_band=0.0)


def test_downscaled_refinement_keeps_the_certain_pixels_and_nearly_the_result():
    s = synthetic_image(np.random.default_rng(3))
    big = cv2.resize(s.image, None, fx=3, fy=3, interpolation=cv2.INTER_LINEAR)
    truth = cv2.resize(s.mask.astype(np.uint8), None, fx=3, fy=3, interpolation=cv2.INTER_NEAREST).astype(bool)
    guess = _blurred_guess(truth, 15)
    full = grabcut_refine(big, guess, band=0.03, iterations=3)
    small = grabcut_refine(big, guess, band=0.03, iterations=3, max_side=96)
    h, w = guess.shape
    b = 0.03 * np.hypot(h, w)
    outer = cv2.distanceTransform((~guess).astype(np.uint8), cv2.DIST_L2, 3)
    inner = cv2.distanceTransform(guess.astype(np.uint8), cv2.DIST_L2, 3)
    assert not small[~guess & (outer > b + 1)].any() and small[guess & (inner > b + 1)].all()
    assert iou(small, truth) > iou(guess, truth) + 0.03  # it still snaps the boundary ...
    assert iou(small, full) > 0.9  # ... to about where full resolution puts it
    with pytest.raises(ValueError, match="max_side"):
        grabcut_refine(big, guess, max_side=8)
