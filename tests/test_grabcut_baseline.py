"""GrabCut baseline: seeds, priors, degenerate inputs and the paper's §3.3 heuristic box."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ivos_core.baselines.grabcut import GrabCutClickMethod, GrabCutSegmenter, heuristic_box, paint_inputs
from ivos_core.interactions import Click, Stroke
from ivos_core.metrics import iou
from ivos_core.protocols import InteractiveMethod, SegmentFn

H, W = 120, 160
YY, XX = np.mgrid[:H, :W]


def _scene(seed: int = 0, distractor: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Textured yellow disk (the object) on textured blue; optionally a green disk beside it.

    Returns (image (H, W, 3) uint8 RGB, object mask, distractor mask)."""
    rng = np.random.default_rng(seed)
    obj = (XX - 60) ** 2 + (YY - 60) ** 2 <= 30**2
    dist = ((XX - 130) ** 2 + (YY - 60) ** 2 <= 18**2) if distractor else np.zeros_like(obj)
    img = np.empty((H, W, 3))
    img[:] = (40, 90, 200)
    img[obj] = (220, 180, 40)
    img[dist] = (60, 200, 60)
    texture = 25 * np.sin(XX / 3.0)[:, :, None] * np.cos(YY / 4.0)[:, :, None]
    img = np.clip(img + texture + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
    return img, obj, dist


def test_one_positive_click_segments_the_disk():
    img, obj, _ = _scene()
    mask = GrabCutSegmenter().predict(img, [Click(x=60, y=60)])
    assert mask.dtype == bool and mask.shape == (H, W)
    assert iou(mask, obj) > 0.9


def test_negative_click_removes_a_wrongly_included_region():
    img, obj, dist = _scene(distractor=True)
    seg = GrabCutSegmenter()
    box = (20, 20, 150, 100)  # encloses object and distractor, like a box from a bad mask
    before = seg.predict(img, [Click(x=60, y=60)], box=box)
    assert before[dist].mean() > 0.9  # green is not in the background model: kept
    after = seg.predict(img, [Click(x=60, y=60), Click(x=130, y=60, positive=False)], box=box)
    assert after[dist].mean() < 0.05
    assert iou(after, obj) > 0.9
    assert iou(after, obj) > iou(before, obj) + 0.15


def test_prev_mask_prior_and_hard_seeds():
    img, obj, _ = _scene()
    seg = GrabCutSegmenter()
    prev = cv2.dilate(obj.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)  # too fat
    out = seg.predict(img, [], prev_mask=prev)
    assert iou(out, obj) > 0.9 and iou(out, obj) > iou(prev, obj)
    # a negative click is a hard constraint even inside the object
    out = seg.predict(img, [Click(x=60, y=60, positive=False)], prev_mask=prev)
    assert not out[55:66, 55:66][(XX[55:66, 55:66] - 60) ** 2 + (YY[55:66, 55:66] - 60) ** 2 <= 25].any()


def test_degenerate_inputs_do_not_raise():
    img, obj, _ = _scene()
    seg = GrabCutSegmenter()
    assert not seg.predict(img, []).any()
    assert not seg.predict(img, [Click(x=10, y=10, positive=False)]).any()
    assert not seg.predict(img, [], prev_mask=np.zeros((H, W), bool)).any()
    # no background candidate: the image border becomes background, the result is not everything
    full = seg.predict(img, [Click(x=60, y=60)], box=(0, 0, W - 1, H - 1))
    assert 0 < full.sum() < H * W
    full = seg.predict(img, [], prev_mask=np.ones((H, W), bool))
    assert 0 < full.sum() < H * W
    # grey and RGBA images are converted
    assert seg.predict(img[:, :, 0], [Click(x=60, y=60)]).shape == (H, W)
    rgba = np.dstack([img, np.full((H, W), 255, np.uint8)])
    assert iou(seg.predict(rgba, [Click(x=60, y=60)]), obj) > 0.9


def test_input_errors():
    img, _, _ = _scene()
    seg = GrabCutSegmenter()
    with pytest.raises(ValueError, match=r"prev_mask shape \(10, 10\)"):
        seg.predict(img, [], prev_mask=np.zeros((10, 10), bool))
    with pytest.raises(TypeError, match="uint8"):
        seg.predict(img.astype(np.float32), [Click(x=1, y=1)])
    with pytest.raises(ValueError, match="x0 <= x1"):
        seg.predict(img, [Click(x=60, y=60)], box=(50, 10, 40, 20))
    with pytest.raises(ValueError, match="click_radius"):
        GrabCutSegmenter(click_radius=0)


def test_strokes_are_painted_with_their_radius():
    lab = np.zeros((40, 40), np.uint8)
    paint_inputs(lab, [Stroke(points=[(10, 10), (30, 10)], radius=2, positive=True),
                       Click(x=20, y=30, positive=False)], click_radius=3,
                 positive_value=1, negative_value=2)
    assert lab[10, 20] == 1 and lab[12, 20] == 1 and lab[13, 20] == 0
    assert lab[30, 20] == 2 and lab[30, 23] == 2 and lab[30, 24] == 0
    img, obj, _ = _scene()
    stroke = Stroke(points=[(45, 60), (75, 60)], radius=3)
    assert iou(GrabCutSegmenter().predict(img, [stroke]), obj) > 0.9


def test_heuristic_box_values():
    mask = np.zeros((100, 120), bool)
    mask[40:51, 60:71] = True
    clicks = [Click(x=10, y=20), Click(x=30, y=5), Click(x=115, y=95, positive=False)]
    # positives span x 10..30, y 5..20; mask spans x 60..70, y 40..50; margin 10, clipped at 0
    assert heuristic_box(clicks, mask, margin=10) == (0, 0, 80, 60)
    assert heuristic_box(clicks, mask, margin=2) == (8, 3, 72, 52)
    # clipped at the far side
    assert heuristic_box([Click(x=118, y=98)], None, margin=10, shape=(100, 120)) == (108, 88, 119, 99)
    # only the mask; negatives never count
    assert heuristic_box([Click(x=0, y=0, positive=False)], mask, margin=0) == (60, 40, 70, 50)
    # nothing to enclose: the whole image
    assert heuristic_box([], np.zeros((100, 120), bool)) == (0, 0, 119, 99)
    with pytest.raises(ValueError, match="shape"):
        heuristic_box([], None)


def test_heuristic_box_refinement_of_a_bad_mask():
    img, obj, dist = _scene(distractor=True)
    bad = obj.copy()
    bad[:, 60:] = False  # half the object missing ...
    bad |= dist  # ... and the distractor included
    inputs = [Click(x=75, y=60), Click(x=130, y=60, positive=False)]
    box = heuristic_box(inputs, bad, margin=10)
    out = GrabCutSegmenter().predict(img, inputs, prev_mask=bad, box=box)
    assert iou(out, obj) > 0.9 > iou(bad, obj)


def test_protocol():
    """The NoC baseline is an InteractiveMethod; the stateless segmenter's predict is a SegmentFn."""
    assert isinstance(GrabCutClickMethod(), InteractiveMethod)
    img = np.zeros((H, W, 3), np.uint8)
    img[40:80, 60:100] = 200
    segment: SegmentFn = GrabCutSegmenter().predict
    out = segment(img, [Click(x=80, y=60)], None)
    assert out.shape == (H, W) and out.dtype == bool


def test_prev_mask_in_box_option_labels_box_pixels_outside_the_mask_background():
    seg = GrabCutSegmenter(prev_mask_in_box=True)
    prev = np.zeros((H, W), bool)
    prev[50:70, 50:70] = True
    lab = seg.initial_labels((H, W), [], prev_mask=prev, box=(40, 40, 80, 80))
    assert lab[60, 60] == cv2.GC_PR_FGD and lab[45, 45] == cv2.GC_PR_BGD and lab[10, 10] == cv2.GC_BGD
    lab = GrabCutSegmenter().initial_labels((H, W), [], prev_mask=prev, box=(40, 40, 80, 80))
    assert lab[45, 45] == cv2.GC_PR_FGD  # default: pure rect semantics inside the box


# --- the NoC baseline: clicks as hard seeds, image border background, previous mask kept ---------

from ivos_core.baselines.grabcut import (  # noqa: E402
    DEFAULT_NOC_MODE,
    NOC_MODES,
    click_seed_labels,
)


def _two_part_scene(seed: int = 0):
    """One object in two parts of different colours (yellow disk left, green disk right) on blue."""
    rng = np.random.default_rng(seed)
    left = (XX - 40) ** 2 + (YY - 60) ** 2 <= 22**2
    right = (XX - 122) ** 2 + (YY - 60) ** 2 <= 22**2
    img = np.empty((H, W, 3))
    img[:] = (40, 90, 200)
    img[left] = (220, 180, 40)
    img[right] = (60, 200, 60)
    img = np.clip(img + rng.normal(0, 10, img.shape), 0, 255).astype(np.uint8)
    return img, left, right


def test_click_seed_labels():
    prev = np.zeros((H, W), bool)
    prev[10:30, 10:30] = True
    lab = click_seed_labels((H, W), [Click(x=60, y=60), Click(x=100, y=20, positive=False), Click(x=0, y=50)])
    assert lab[70, 70] == cv2.GC_PR_BGD and lab[0, 80] == cv2.GC_BGD and lab[80, W - 1] == cv2.GC_BGD
    assert lab[60, 63] == cv2.GC_FGD and lab[60, 66] == cv2.GC_PR_BGD  # radius-5 disk
    assert lab[20, 100] == cv2.GC_BGD and lab[50, 0] == cv2.GC_FGD  # a click on the border wins
    lab = click_seed_labels((H, W), [], prev)
    assert lab[20, 20] == cv2.GC_PR_FGD and lab[50, 50] == cv2.GC_PR_BGD


@pytest.mark.parametrize("mode", NOC_MODES)
def test_noc_baseline_keeps_the_previous_result(mode):
    img, left, right = _two_part_scene()
    m = GrabCutClickMethod(mode)
    m.set_image(img)
    c1 = [Click(x=40, y=60)]
    first = m.predict(c1, None)
    assert iou(first, left) > 0.9
    # a second click far from the segmented part does not erase it: a negative click in the
    # background, or a positive click on the other part of the object
    neg = m.predict(c1 + [Click(x=80, y=110, positive=False)], first)
    assert iou(neg, left) > 0.9
    both = m.predict(c1 + [Click(x=122, y=60)], first)
    assert both[left].mean() > 0.95 and both[right].mean() > 0.9
    assert iou(both, left | right) > 0.9


def test_continue_mode_uses_the_previous_mask_rerun_does_not():
    img, left, right = _two_part_scene()
    clicks = [Click(x=40, y=60)]
    cont, rerun = GrabCutClickMethod("continue"), GrabCutClickMethod("rerun")
    cont.set_image(img)
    rerun.set_image(img)
    prev = left | right  # e.g. from an earlier click on the right part, no longer in the inputs
    assert cont.predict(clicks, prev)[right].mean() > 0.9
    assert rerun.predict(clicks, prev)[right].mean() < 0.1


def test_noc_baseline_is_what_build_method_gives_and_the_box_stays_available():
    from ivos_core.interactive.methods import GrabCutMethod, build_method

    m = build_method("grabcut")
    assert isinstance(m, GrabCutClickMethod) and m.mode == DEFAULT_NOC_MODE
    assert build_method("grabcut-continue").mode == "continue" and build_method("grabcut-rerun").mode == "rerun"
    box = build_method("grabcut-box")
    assert isinstance(box, GrabCutMethod) and box.use_box and box.name == "grabcut-box"
    with pytest.raises(ValueError, match="mode"):
        GrabCutClickMethod("box")
    with pytest.raises(RuntimeError, match="set_image"):
        GrabCutClickMethod().predict([Click(x=1, y=1)], None)
