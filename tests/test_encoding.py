"""Encoding of clicks and strokes into network channels: exact values, shapes, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ivos_core.interactions import Click, Stroke
from ivos_core.interactive.encoding import (
    DEFAULT_SIGMA,
    distance_maps,
    encode,
    gaussian_map,
    n_channels,
)

H, W = 60, 80


def test_gaussian_peaks_and_falloff() -> None:
    g = gaussian_map([Click(x=20, y=30), Click(x=60, y=30, positive=False)], H, W)
    assert g.dtype == np.float32 and g.shape == (H, W)
    assert g[30, 20] == pytest.approx(1.0)
    assert g[30, 60] == pytest.approx(-1.0)
    s = DEFAULT_SIGMA
    assert g[30, 20 + int(s)] == pytest.approx(math.exp(-0.5), rel=1e-5)  # one sigma right
    assert g[30 - 3, 20 + 4] == pytest.approx(math.exp(-25 / (2 * s * s)), rel=1e-5)  # distance 5 diagonal
    assert g[30, 60 - int(s)] == pytest.approx(-math.exp(-0.5), rel=1e-5)
    assert g[0, 40] == 0.0 and g.min() >= -1 and g.max() <= 1


def test_gaussian_support_is_four_sigma() -> None:
    g = gaussian_map([Click(x=40, y=30)], H, W, sigma=3.0)
    assert g[30, 40 + 12] == pytest.approx(math.exp(-8), rel=1e-4)  # exactly 4 sigma: kept
    assert g[30, 40 + 13] == 0.0  # beyond: zero
    assert g[30 + 9, 40 + 9] == 0.0  # 12.7 px diagonal: zero even inside the square window


def test_gaussian_same_sign_max_and_mixed_sign_magnitude() -> None:
    two = gaussian_map([Click(x=30, y=30), Click(x=34, y=30)], H, W)
    one = gaussian_map([Click(x=30, y=30)], H, W)
    assert two[30, 30] == pytest.approx(1.0)  # max, not sum (a sum would exceed 1)
    assert two[30, 32] == pytest.approx(one[30, 28])  # midpoint: each gives exp(-4/2s^2)
    mix = gaussian_map([Click(x=30, y=30), Click(x=36, y=30, positive=False)], H, W)
    assert mix[30, 30] == pytest.approx(1.0) and mix[30, 36] == pytest.approx(-1.0)
    assert mix[30, 32] > 0 and mix[30, 34] < 0  # each side keeps the nearer click's sign
    assert mix[30, 33] == pytest.approx(one[30, 27])  # equidistant tie goes to the positive


def test_gaussian_rounds_coordinates_and_clips_at_borders() -> None:
    g = gaussian_map([Click(x=0.4, y=59.0), Click(x=78.6, y=0.2)], H, W)
    assert g[59, 0] == pytest.approx(1.0) and g[0, 79] == pytest.approx(1.0)


def test_stroke_gaussian_is_one_on_brush_and_falls_off() -> None:
    s = Stroke(points=[(10, 20), (50, 20)], radius=2.0)
    g = gaussian_map([s], H, W)
    assert np.allclose(g[20, 10:51], 1.0) and np.allclose(g[18:23, 30], 1.0)  # the brush
    sig = DEFAULT_SIGMA
    assert g[20 + 2 + 5, 30] == pytest.approx(math.exp(-25 / (2 * sig * sig)), rel=1e-5)  # 5 px off the brush
    neg = gaussian_map([Stroke(points=[(10, 40), (50, 40)], positive=False)], H, W)
    assert neg[40, 30] == pytest.approx(-1.0) and neg.max() == 0.0


def test_distance_maps_values() -> None:
    d = distance_maps([Click(x=20, y=30), Click(x=60, y=10, positive=False)], H, W)
    assert d.shape == (2, H, W) and d.dtype == np.float32
    assert d[0, 30, 20] == 0 and d[0, 30, 23] == pytest.approx(3.0) and d[0, 34, 23] == pytest.approx(5.0)
    assert d[1, 10, 60] == 0 and d[1, 10, 57] == pytest.approx(3.0)
    only_pos = distance_maps([Click(x=5, y=5)], H, W, truncate=10.0)
    assert np.all(only_pos[1] == 10.0)  # no negatives: all truncate
    assert only_pos[0].max() == 10.0 and only_pos[0, 5, 12] == pytest.approx(7.0)


def test_distance_maps_stroke_brush_is_zero() -> None:
    d = distance_maps([Stroke(points=[(10, 20), (50, 20)], radius=3.0, positive=False)], H, W)
    assert np.all(d[1, 17:24, 30] == 0) and d[1, 27, 30] == pytest.approx(4.0)
    assert np.all(d[0] == 255.0)


def test_encode_dispatch_and_channels() -> None:
    clicks = [Click(x=3, y=4), Click(x=10, y=10, positive=False)]
    g = encode(clicks, H, W)
    assert g.shape == (1, H, W) and n_channels("gaussian") == 1
    np.testing.assert_array_equal(g[0], gaussian_map(clicks, H, W))
    d = encode(clicks, H, W, method="distance", truncate=50.0)
    assert d.shape == (2, H, W) and n_channels("distance") == 2 and d.max() == 50.0
    assert np.all(encode([], H, W) == 0)
    with pytest.raises(ValueError, match="unknown encoding method"):
        encode(clicks, H, W, method="disk")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="sigma"):
        encode(clicks, H, W, method="distance", sigma=2.0)


def test_outside_inputs_are_rejected_with_the_image_size() -> None:
    with pytest.raises(ValueError, match=r"inputs\[1\].*outside the 80x60 image"):
        gaussian_map([Click(x=1, y=1), Click(x=80, y=5)], H, W)
    with pytest.raises(ValueError, match="outside the 80x60 image"):
        distance_maps([Stroke(points=[(5, 5), (5, 60)])], H, W)
    with pytest.raises(ValueError, match="sigma"):
        gaussian_map([], H, W, sigma=0.0)


def test_many_clicks_full_frame_matches_bruteforce() -> None:
    rng = np.random.default_rng(1)
    h, w = 120, 200
    clicks = [Click(x=float(rng.integers(w)), y=float(rng.integers(h)), positive=bool(i % 2)) for i in range(20)]
    g = gaussian_map(clicks, h, w)
    yy, xx = np.mgrid[:h, :w]
    s = DEFAULT_SIGMA

    def best(sign: bool) -> np.ndarray:
        d2 = np.min([(yy - c.y) ** 2 + (xx - c.x) ** 2 for c in clicks if c.positive == sign], axis=0)
        return np.where(d2 <= (4 * s) ** 2, np.exp(-d2 / (2 * s * s)), 0.0)

    pos, neg = best(True), best(False)
    np.testing.assert_allclose(g, np.where(pos >= neg, pos, -neg), atol=1e-6)
