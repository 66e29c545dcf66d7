"""Dense CRF refinement: it cleans a noisy probability, fast agrees with full, inputs are checked."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ivos_core.interactive.crf import CRFParams, refine, uncertain_band
from ivos_core.metrics import iou


def _two_colour(h: int = 64, w: int = 80, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A yellow disk on a blue background with mild pixel noise: (image uint8 RGB, truth bool)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    truth = (xx - w / 2) ** 2 + (yy - h / 2) ** 2 <= (min(h, w) / 3) ** 2
    img = np.empty((h, w, 3), np.float64)
    img[:] = (40, 90, 200)
    img[truth] = (220, 180, 40)
    img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
    return img, truth


def _coarse_prob(truth: np.ndarray, seed: int = 0, scale: float = 4.0) -> np.ndarray:
    """Like a 1/8-resolution network output: blurry, noisy, mislocalised boundary."""
    rng = np.random.default_rng(seed)
    h, w = truth.shape
    small = cv2.resize(truth.astype(np.float32), (w // 8, h // 8), interpolation=cv2.INTER_AREA)
    logit = (small - 0.5) * scale + rng.normal(0, 0.7, small.shape).astype(np.float32)
    logit = cv2.resize(logit, (w, h), interpolation=cv2.INTER_LINEAR)
    return (1 / (1 + np.exp(-logit))).astype(np.float32)


def test_crf_cleans_a_noisy_probability():
    img, truth = _two_colour()
    rng = np.random.default_rng(1)
    prob = np.clip(truth * 0.6 + 0.2 + rng.normal(0, 0.25, truth.shape), 0, 1).astype(np.float32)
    before = iou(prob > 0.5, truth)
    assert before < 0.85
    for mode in ("full", "fast"):
        out = refine(img, prob, mode=mode)
        assert out.shape == truth.shape and out.dtype == np.float32
        assert 0.0 <= out.min() and out.max() <= 1.0
        after = iou(out > 0.5, truth)
        assert after > 0.97, (mode, before, after)


def test_crf_snaps_a_coarse_boundary_to_the_edge():
    img, truth = _two_colour(96, 128)
    prob = _coarse_prob(truth)
    before = iou(prob > 0.5, truth)
    after = iou(refine(img, prob, mode="full") > 0.5, truth)
    assert after > before + 0.02
    assert after > 0.95


@pytest.mark.parametrize("max_pixels", [30_000, 4_000])  # crop only / crop downscaled ~2.4x
def test_fast_agrees_with_full(max_pixels):
    img, truth = _two_colour(128, 160, seed=2)
    prob = _coarse_prob(truth, seed=2, scale=10.0)
    assert uncertain_band(prob, band=6).mean() < 0.5  # the fast path really skips pixels
    full = refine(img, prob, mode="full")
    fast = refine(img, prob, mode="fast", band=6, max_pixels=max_pixels)
    assert iou(fast > 0.5, full > 0.5) > 0.97
    assert float(np.abs(fast - full).mean()) < 0.03


def test_fast_leaves_confident_pixels_unchanged():
    img, truth = _two_colour(96, 128)
    prob = truth.astype(np.float32)  # a hard mask: only its boundary band is uncertain
    band = uncertain_band(prob, band=6)
    assert 0.05 < band.mean() < 0.6
    out = refine(img, prob, mode="fast", band=6)
    assert np.array_equal(out[~band], prob[~band])
    assert iou(out > 0.5, truth) > 0.97


def test_nothing_uncertain_returns_prob_unchanged():
    img, _ = _two_colour()
    prob = np.zeros(img.shape[:2], np.float64)
    out = refine(img, prob, mode="fast")
    assert out.dtype == np.float32
    assert np.array_equal(out, prob)
    assert out is not prob


def test_grey_and_rgba_images_are_converted():
    img, truth = _two_colour()
    prob = _coarse_prob(truth)
    grey = img[:, :, 1].copy()
    ref = refine(np.repeat(grey[:, :, None], 3, axis=2), prob, mode="full")
    np.testing.assert_array_equal(refine(grey, prob, mode="full"), ref)
    rgba = np.concatenate([img, np.full(img.shape[:2] + (1,), 255, np.uint8)], axis=2)
    np.testing.assert_array_equal(refine(rgba, prob, mode="full"), refine(img, prob, mode="full"))


def test_errors_say_what_is_wrong():
    img, truth = _two_colour()
    prob = truth.astype(np.float32)
    with pytest.raises(ValueError, match=r"\(10, 10\).*\(64, 80\)"):
        refine(img, np.zeros((10, 10), np.float32))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        refine(img, prob * 2)
    with pytest.raises(ValueError, match="NaN"):
        refine(img, np.full(prob.shape, np.nan, np.float32))
    with pytest.raises(TypeError, match="uint8"):
        refine(img.astype(np.float32) / 255, prob)
    with pytest.raises(ValueError, match="mode"):
        refine(img, prob, mode="slow")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="2-D"):
        refine(img, prob[:, :, None])
    with pytest.raises(ValueError, match="shape"):
        refine(img[:, :, :2], prob)
    with pytest.raises(ValueError, match="n_iter"):
        CRFParams(n_iter=0)
    with pytest.raises(ValueError, match="bilateral_srgb"):
        CRFParams(bilateral_srgb=0)


def test_refine_accepts_a_read_only_frame() -> None:
    """Video readers can hand out read-only frames (found by `ivos simulate sessions`)."""
    import numpy as np

    from ivos_core.interactive.crf import refine

    img = np.zeros((40, 60, 3), np.uint8)
    img[10:30, 15:45] = 200
    img.setflags(write=False)
    prob = np.full((40, 60), 0.3, np.float32)
    prob[12:28, 18:42] = 0.8
    out = refine(img, prob)
    assert out.shape == (40, 60) and out[20, 30] > 0.5 > out[2, 2]
