"""Metric semantics (DAVIS J/F, NoC, mIoU curves, sequence statistics) on hand-checked values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from ivos_core.metrics import (
    NoCResult,
    SeqStats,
    boundary_f,
    clicks_to_reach,
    davis_jf,
    iou,
    miou_curve,
    noc,
    seg2bmap,
    sequence_statistics,
)


def _square(shape=(100, 100), y=30, x=30, size=20, dx=0) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[y : y + size, x + dx : x + dx + size] = True
    return m


def test_iou_values_and_ignore():
    pred = np.array([[1, 1, 0], [0, 0, 0]], bool)
    gt = np.array([[0, 1, 1], [0, 0, 0]], bool)
    assert iou(pred, gt) == pytest.approx(1 / 3)
    ign = np.array([[1, 0, 0], [0, 0, 0]], bool)  # drops pred's only wrong pixel
    assert iou(pred, gt, ignore=ign) == pytest.approx(1 / 2)
    # uint8 0/255 masks are accepted like booleans
    assert iou(pred.astype(np.uint8) * 255, gt.astype(np.uint8) * 255) == pytest.approx(1 / 3)


def test_iou_empty_union_is_one_and_one_empty_is_zero():
    z = np.zeros((4, 5), bool)
    assert iou(z, z) == 1.0
    o = z.copy()
    o[1, 1] = True
    assert iou(z, o) == 0.0
    # everything ignored: empty union again
    assert iou(o, o, ignore=np.ones_like(o)) == 1.0


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(4, 5\).*\(5, 4\)"):
        iou(np.zeros((4, 5)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match=r"\(4, 5\).*\(5, 4\)"):
        boundary_f(np.zeros((4, 5)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="ignore shape"):
        iou(np.zeros((4, 5)), np.zeros((4, 5)), ignore=np.zeros((2, 2)))


def test_seg2bmap_single_pixel():
    s = np.zeros((3, 3), bool)
    s[1, 1] = True
    expected = np.zeros((3, 3), bool)
    expected[0:2, 0:2] = True  # the pixel plus its upper/left/upper-left neighbours
    assert np.array_equal(seg2bmap(s), expected)


def test_boundary_f_identical_empty_and_one_empty():
    sq = _square()
    assert boundary_f(sq, sq) == 1.0
    z = np.zeros_like(sq)
    assert boundary_f(z, z) == 1.0
    assert boundary_f(sq, z) == 0.0
    assert boundary_f(z, sq) == 0.0


def test_boundary_f_tolerance_in_pixels_and_fraction_of_diagonal():
    gt = _square()
    pred = _square(dx=3)
    assert boundary_f(pred, gt, bound_th=3) == 1.0
    assert boundary_f(pred, gt, bound_th=2) < 0.9
    # 100x100 image: diagonal 141.4; 0.02 -> ceil(2.83) = 3 px, 0.01 -> ceil(1.41) = 2 px
    assert boundary_f(pred, gt, bound_th=0.02) == 1.0
    assert boundary_f(pred, gt, bound_th=0.01) == boundary_f(pred, gt, bound_th=2)


def test_boundary_f_matches_a_distance_transform_reference():
    rng = np.random.default_rng(3)
    gt = ndimage.gaussian_filter(rng.random((60, 80)), 4) > 0.5
    pred = ndimage.binary_dilation(gt, iterations=2) ^ (rng.random((60, 80)) > 0.97)
    r = 2
    pb, gb = seg2bmap(pred), seg2bmap(gt)
    d_to_g = ndimage.distance_transform_edt(~gb)
    d_to_p = ndimage.distance_transform_edt(~pb)
    precision = (d_to_g[pb] <= r).mean()
    recall = (d_to_p[gb] <= r).mean()
    ref = 2 * precision * recall / (precision + recall)
    assert 0.3 < ref < 0.99  # a non-trivial case
    assert boundary_f(pred, gt, bound_th=r) == pytest.approx(ref, abs=1e-12)


def test_boundary_f_ignore_removes_pixels_from_both():
    gt = _square()
    pred = gt.copy()
    pred[0:10, 0:10] = True  # a spurious blob
    assert boundary_f(pred, gt, bound_th=2) < 1.0
    ign = np.zeros_like(gt)
    ign[0:12, 0:12] = True
    assert boundary_f(pred, gt, bound_th=2, ignore=ign) == 1.0


def test_clicks_to_reach():
    assert clicks_to_reach([0.5, 0.8, 0.92, 0.95], 0.9) == 3
    assert clicks_to_reach([0.5, 0.8], 0.9) == 20
    assert clicks_to_reach([0.5, 0.91], 0.9, max_clicks=5) == 2
    assert clicks_to_reach([0.9], 0.9) == 1  # >= threshold counts
    # reached only after max_clicks: a failure
    assert clicks_to_reach([0.1] * 25 + [0.99], 0.9) == 20
    with pytest.raises(ValueError, match="non-empty"):
        clicks_to_reach([], 0.9)
    with pytest.raises(ValueError, match="max_clicks"):
        clicks_to_reach([0.5], 0.9, max_clicks=0)


def test_noc_pads_and_counts_failures():
    res = noc([[0.5, 0.8, 0.92], [0.95], [0.3, 0.4]], 0.9)
    assert isinstance(res, NoCResult)
    assert res.per_sample == [3, 1, 20]
    assert res.mean == pytest.approx(8.0)
    assert res.n_failed == 1
    # a sample that stopped early at a good IoU keeps it: reached at click 2 with max_clicks=5
    assert noc([[0.2, 0.86]], 0.85, max_clicks=5).per_sample == [2]


def test_miou_curve_pads_with_last_value():
    curve = miou_curve([[0.5, 0.7], [0.9]], max_clicks=3)
    assert curve.shape == (3,)
    np.testing.assert_allclose(curve, [0.7, 0.8, 0.8])
    # longer lists are cut at max_clicks
    np.testing.assert_allclose(miou_curve([[0.1, 0.2, 0.3, 0.4]], max_clicks=2), [0.1, 0.2])


def test_sequence_statistics():
    st = sequence_statistics([0.2, 0.4, 0.6, 0.8, 1.0, 0.9, 0.7, 0.5])
    assert isinstance(st, SeqStats)
    assert st.mean == pytest.approx(0.6375)
    assert st.recall == pytest.approx(5 / 8)  # strictly greater than 0.5
    assert st.decay == pytest.approx(0.3 - 0.6)
    # 5 frames: array_split bins of 2, 1, 1, 1
    assert sequence_statistics([1, 1, 0, 0, 0.5]).decay == pytest.approx(0.5)
    # NaN frames are skipped in mean and recall
    st = sequence_statistics([1.0, float("nan"), 0.0, 1.0])
    assert st.mean == pytest.approx(2 / 3)
    assert st.recall == pytest.approx(2 / 3)


def test_davis_jf_excludes_first_and_last_frames():
    gt = [_square((40, 40), 10, 10, 15) for _ in range(5)]
    pred = [g.copy() for g in gt]
    pred[0][:] = False
    pred[4][:] = False
    res = davis_jf(pred, gt)
    assert res["frames"] == [1, 2, 3]
    assert res["J"].mean == 1.0 and res["F"].mean == 1.0 and res["JF_mean"] == 1.0
    res_all = davis_jf(pred, gt, exclude_first_last=False)
    assert res_all["J_per_frame"] == [0.0, 1.0, 1.0, 1.0, 0.0]
    assert res_all["J"].mean == pytest.approx(0.6)
    assert res_all["J"].recall == pytest.approx(0.6)
    assert res_all["F"].mean == pytest.approx(0.6)
    with pytest.raises(ValueError, match="3 predicted masks but 5"):
        davis_jf(pred[:3], gt)
    with pytest.raises(ValueError, match="exclude_first_last=False"):
        davis_jf(pred[:2], gt[:2])
