"""InteractiveSegmenter: any image size/channel count, hard constraints, soft mode, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ivos_core.checkpoints import save_checkpoint
from ivos_core.interactions import Click, Stroke
from ivos_core.models import build_interactive
from ivos_core.interactive.segmenter import InteractiveSegmenter, Prediction, constraint_masks, to_rgb_uint8


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_interactive("lite").eval()


@pytest.fixture
def seg(model):
    return InteractiveSegmenter(model, device="cpu", input_size=64)


@pytest.mark.parametrize(
    "shape",
    [(37, 53), (50, 41, 1), (50, 41, 4), (31, 90, 3), (120, 17, 3)],
    ids=["grey", "grey1", "rgba", "wide-odd", "tall-odd"],
)
def test_any_image_gives_masks_at_its_size(seg, shape, rng):
    img = rng.integers(0, 256, size=shape, dtype=np.uint8)
    seg.set_image(img)
    h, w = shape[:2]
    clicks = [Click(x=w // 2, y=h // 2), Click(x=0, y=0, positive=False), Click(x=w - 1, y=h - 1, positive=False)]
    pred = seg.predict(clicks)
    assert isinstance(pred, Prediction)
    assert pred.prob.shape == (h, w) and pred.prob.dtype == np.float32
    assert pred.mask.shape == (h, w) and pred.mask.dtype == bool
    assert pred.prob[h // 2, w // 2] == 1.0 and pred.mask[h // 2, w // 2]
    assert pred.prob[0, 0] == 0.0 and pred.prob[h - 1, w - 1] == 0.0
    # the previous mask is accepted at the image's size, and rejected otherwise
    again = seg.predict(clicks, prev_mask=pred.mask)
    assert again.prob.shape == (h, w)
    with pytest.raises(ValueError, match="prev_mask must have the image's shape"):
        seg.predict(clicks, prev_mask=np.zeros((h + 1, w), bool))


def test_hard_constraints_disk_and_strokes(seg, rng):
    seg.set_image(rng.integers(0, 256, size=(80, 100, 3), dtype=np.uint8))
    pos = Click(x=30, y=40)
    neg = Stroke(points=[(60, 10), (90, 10)], positive=False, radius=2)
    pred = seg.predict([pos, neg])
    fg, bg = constraint_masks([pos, neg], 80, 100, click_radius=3)
    assert fg[40, 33] and fg[43, 30] and not fg[40, 34]  # disk of radius 3
    assert bg[10, 60] and bg[12, 75] and bg[10, 90]
    assert (pred.prob[fg] == 1).all() and (pred.prob[bg] == 0).all()
    # a later input wins where two overlap
    fg2, bg2 = constraint_masks([Click(x=5, y=5), Click(x=5, y=5, positive=False)], 20, 20)
    assert bg2[5, 5] and not fg2[5, 5]


def test_soft_mode_does_not_clamp(model, rng):
    img = rng.integers(0, 256, size=(60, 70, 3), dtype=np.uint8)
    clicks = [Click(x=35, y=30), Click(x=5, y=5, positive=False)]
    soft = InteractiveSegmenter(model, device="cpu", input_size=64, hard_constraints=False)
    soft.set_image(img)
    p = soft.predict(clicks).prob
    logits = soft.predict_logits(clicks)
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-logits)), rtol=1e-5, atol=1e-6)
    assert 0.0 < p[30, 35] < 1.0 and 0.0 < p[5, 5] < 1.0
    hard = soft.predict(clicks, hard_constraints=True).prob
    assert hard[30, 35] == 1.0 and hard[5, 5] == 0.0


def test_clicks_outside_are_clipped_and_errors_are_clear(seg, rng):
    with pytest.raises(RuntimeError, match="set_image"):
        seg.predict([Click(x=1, y=1)])
    seg.set_image(rng.integers(0, 256, size=(40, 40, 3), dtype=np.uint8))
    pred = seg.predict([Click(x=39, y=0), Click(x=1e4, y=-3)])
    assert pred.prob[0, 39] == 1.0
    with pytest.raises(TypeError, match="Click or Stroke"):
        seg.predict([(1, 2)])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="expected an image of shape"):
        seg.set_image(np.zeros((4, 4, 2), np.uint8))
    assert to_rgb_uint8(np.ones((3, 3), np.float32)).max() == 255


def test_from_checkpoint_and_protocol_adaptor(tmp_path, rng):
    from ivos_core.interactive.methods import DeepMethod

    torch.manual_seed(1)
    m = build_interactive("lite", encoding="distance", use_mask=False)
    save_checkpoint(tmp_path / "ifcn", m, {"input_size": 64, "encoding_kw": {"truncate": 255.0}})
    seg = InteractiveSegmenter.from_checkpoint(tmp_path / "ifcn", device="cpu")
    assert (seg.encoding, seg.use_mask, seg.input_size) == ("distance", False, 64)
    method = DeepMethod(seg, name="ifcn")
    img = rng.integers(0, 256, size=(45, 67, 3), dtype=np.uint8)
    method.set_image(img)
    mask = method.predict([Click(x=10, y=10)], None)
    assert mask.shape == (45, 67) and mask.dtype == bool and mask[10, 10]
    with pytest.raises(ValueError, match="model expects encoding='distance'"):
        InteractiveSegmenter(m, encoding="gaussian", device="cpu")


def test_crf_fast_mode_runs(model, rng):
    from ivos_core.interactive.options import SegmenterOptions

    pytest.importorskip("pydensecrf")
    seg = InteractiveSegmenter(model, device="cpu", input_size=64, crf=True)
    img = np.zeros((48, 64, 3), np.uint8)
    img[10:38, 15:50] = 200
    seg.set_image(img)
    pred = seg.predict([Click(x=30, y=24)])
    assert pred.prob.shape == (48, 64) and pred.prob[24, 30] == 1.0
    # the appearance weight is a setting of its own (chosen on COCO_MVal dev): it changes the result
    img = rng.integers(0, 60, size=(48, 64, 3), dtype=np.uint8)
    img[10:38, 15:50] += 150
    probs = {}
    for w in (0.0, 4.0, 20.0):
        s = InteractiveSegmenter(model, device="cpu", input_size=64, crf=True, crf_weight=w)
        s.set_image(img)
        probs[w] = s.predict([Click(x=30, y=24)]).prob
    assert s.crf_weight == 20.0 and SegmenterOptions().crf_weight == 4.0
    assert not np.allclose(probs[0.0], probs[20.0])
    with pytest.raises(ValueError, match="crf_weight"):
        SegmenterOptions(crf_weight=-1)


def test_zoom_in_crops_around_the_object(model, rng):
    seg = InteractiveSegmenter(model, device="cpu", input_size=64, zoom_in=True, zoom_min_size=10)
    img = rng.integers(0, 256, size=(120, 160, 3), dtype=np.uint8)
    seg.set_image(img)
    prev = np.zeros((120, 160), bool)
    prev[40:60, 50:80] = True
    first = [Click(x=65, y=50)]
    assert seg.zoom_box(first, None) is None  # nothing to zoom on before the first mask
    assert seg.zoom_box(first, prev) is None  # nor on the first input
    clicks = first + [Click(x=90, y=55), Click(x=5, y=5, positive=False)]
    y0, y1, x0, x1 = seg.zoom_box(clicks, prev)
    # the previous mask and the positive clicks fit, grown by zoom_expand; the far negative does not
    assert y0 <= 40 and y1 >= 60 and x0 <= 50 and x1 >= 91
    assert (x1 - x0) >= 1.4 * (90 - 50 + 1) - 1 and x0 > 5
    pred = seg.predict(clicks, prev_mask=prev)
    assert pred.prob.shape == (120, 160)
    outside = np.ones((120, 160), bool)
    outside[y0:y1, x0:x1] = False
    assert float(pred.prob[outside].max()) < 1e-9 and not pred.mask[outside].any()  # background outside
    assert pred.mask[50, 65] and pred.mask[55, 90] and not pred.mask[5, 5]  # clamps still hold
    # an object covering most of the frame: no crop, the plain prediction
    big = np.ones((120, 160), bool)
    assert seg.zoom_box(clicks, big) is None
    plain = InteractiveSegmenter(model, device="cpu", input_size=64)
    plain.set_image(img)
    assert np.array_equal(seg.predict_logits(clicks, big), plain.predict_logits(clicks, big))
    # zoom_from: the crop waits until that many inputs
    late = InteractiveSegmenter(model, device="cpu", input_size=64, zoom_in=True, zoom_min_size=10, zoom_from=4)
    late.set_image(img)
    assert late.zoom_box(clicks, prev) is None  # 3 inputs < 4
    assert late.zoom_box(clicks + [Click(x=60, y=45)], prev) is not None
    with pytest.raises(ValueError, match="zoom_from"):
        InteractiveSegmenter(model, device="cpu", zoom_from=1)


def test_crop_inputs_translates_and_drops_what_falls_outside():
    from ivos_core.interactive.segmenter import crop_inputs

    out = crop_inputs(
        [Click(x=15, y=25), Click(x=2, y=2, positive=False),
         Stroke(points=[(12, 22), (40, 22), (100, 100)], positive=False, radius=2)],
        x0=10, y0=20, width=40, height=30,
    )
    assert [type(o).__name__ for o in out] == ["Click", "Stroke"]
    assert (out[0].x, out[0].y, out[0].positive) == (5, 5, True)
    assert out[1].points() == [(2, 2), (30, 2)] and out[1].radius == 2 and not out[1].positive


@pytest.mark.parametrize("encoding", ["gaussian", "distance"])
def test_flip_tta_is_mirror_symmetric(rng, encoding):
    """With flip averaging, mirroring the image and the clicks mirrors the logits exactly."""
    torch.manual_seed(0)
    net = build_interactive("lite", encoding=encoding).eval()
    seg = InteractiveSegmenter(net, device="cpu", input_size=64, flip_tta=True)
    img = rng.integers(0, 256, size=(50, 70, 3), dtype=np.uint8)  # 64x46 inside a 64x64 pad
    clicks = [Click(x=20, y=25), Click(x=50, y=10, positive=False)]
    seg.set_image(img)
    lg = seg.predict_logits(clicks)
    seg.set_image(img[:, ::-1])
    lg_m = seg.predict_logits([Click(x=69 - c.x, y=c.y, positive=c.positive) for c in clicks])
    np.testing.assert_allclose(lg_m[:, ::-1], lg, atol=1e-4)
    plain = InteractiveSegmenter(net, device="cpu", input_size=64)
    plain.set_image(img)
    assert not np.allclose(plain.predict_logits(clicks), lg, atol=1e-4)  # it does change the output


def test_tta_sizes_average_the_logits_of_each_working_size(rng):
    """Multi-scale averaging: the logits are the mean of single-size segmenters' logits (with the
    mirror averaging inside each size); the working size repeated changes nothing; bad sizes are
    refused; the extra sizes are prepared once per image."""
    from ivos_core.interactive.options import SegmenterOptions

    torch.manual_seed(0)
    net = build_interactive("lite").eval()
    img = rng.integers(0, 256, size=(50, 70, 3), dtype=np.uint8)
    clicks = [Click(x=20, y=25), Click(x=50, y=10, positive=False)]
    prev = np.zeros((50, 70), bool)
    prev[15:35, 10:40] = True

    def logits(**kw):
        seg = InteractiveSegmenter(net, device="cpu", **{"input_size": 64, "flip_tta": True, **kw})
        seg.set_image(img)
        return seg, seg.predict_logits(clicks, prev)

    _, at64 = logits()
    _, at96 = logits(input_size=96)
    seg, both = logits(tta_sizes=[96])
    assert seg.tta_sizes == (96,) and not np.allclose(at64, at96, atol=1e-3)
    np.testing.assert_allclose(both, (at64 + at96) / 2, atol=1e-5)
    assert list(seg._state.at_size) == [96]
    np.testing.assert_allclose(seg.predict_logits(clicks, prev), both, atol=1e-6)  # cached state, same result
    np.testing.assert_allclose(logits(tta_sizes=(64,))[1], at64, atol=1e-5)
    for bad in ([16], [64.5], ["x"]):
        with pytest.raises((ValueError, TypeError)):
            SegmenterOptions(tta_sizes=bad)
    assert SegmenterOptions(tta_sizes=448).tta_sizes == (448,)


def test_options_are_one_frozen_record(model, tmp_path):
    """Every setting is a SegmenterOptions field: keywords override it, unknown names and bad values
    are refused, the options read as attributes, and a checkpoint's training size applies unless
    the caller chose one."""
    import dataclasses

    from ivos_core.interactive.options import MODEL_OPTION_NAMES, OPTION_NAMES, SegmenterOptions

    base = SegmenterOptions(crf=True, colour_weight=1.0)
    seg = InteractiveSegmenter(model, base, keep_clicked=True, device="cpu")
    assert seg.options == dataclasses.replace(base, keep_clicked=True)
    assert (seg.crf, seg.colour_weight, seg.keep_clicked, seg.grabcut_band) == (True, 1.0, True, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        seg.options.crf = False  # type: ignore[misc]
    with pytest.raises(TypeError, match="unknown segmenter options \\['colour'\\]"):
        InteractiveSegmenter(model, colour=1, device="cpu")
    with pytest.raises(ValueError, match="grabcut_band must be a positive"):
        SegmenterOptions(grabcut_band=0)
    assert "amp" in OPTION_NAMES and "amp" not in MODEL_OPTION_NAMES and "grabcut_band" in MODEL_OPTION_NAMES
    save_checkpoint(tmp_path / "m", model, {"input_size": 64})
    assert InteractiveSegmenter.from_checkpoint(tmp_path / "m", device="cpu").input_size == 64
    chosen = InteractiveSegmenter.from_checkpoint(tmp_path / "m", options=SegmenterOptions(input_size=96), device="cpu")
    assert chosen.input_size == 96


def test_click_focus_keeps_only_changes_connected_to_the_newest_click():
    """A change region touching the newest click stands, however far it reaches; a change
    elsewhere (a part already right, undone by the network) reverts to the previous mask."""
    from ivos_core.interactive.postprocess import keep_changes_near

    prev = np.zeros((60, 80), bool)
    prev[5:25, 5:25] = True  # part A, right
    prev[30:55, 40:75] = True  # part B, right
    new = prev.copy()
    new[30:55, 40:75] = False  # the network dropped B (far from the click)
    new[5:25, 25:60] = True  # and grew A along the click's error region, 35 px long
    prob = new.astype(np.float32) * 0.9
    click = Click(x=27, y=15, positive=True)
    p2, m2 = keep_changes_near(prob, new, prev, click, radius=0.02)  # 2 px: the growth starts at the click
    assert m2[5:25, 25:60].all() and m2[30:55, 40:75].all()
    assert np.all(p2[30:55, 40:75] == 1.0) and np.allclose(p2[5:25, 25:60], 0.9)
    far_click = Click(x=2, y=58, positive=False)  # touches no change: everything reverts
    p3, m3 = keep_changes_near(prob, new, prev, far_click, radius=0.02)
    assert np.array_equal(m3, prev)
    same, same_m = keep_changes_near(prob, prev, prev, click, radius=0.02)  # no change: untouched
    assert same is prob and same_m is prev


def test_click_focus_applies_from_the_second_input_and_not_to_local_corrections(model, rng):
    img = rng.integers(0, 256, size=(60, 80, 3), dtype=np.uint8)
    prev = np.zeros((60, 80), bool)
    prev[10:50, 10:70] = True
    clicks = [Click(x=40, y=30, positive=True), Click(x=5, y=5, positive=False)]
    plain = InteractiveSegmenter(model, device="cpu", input_size=64)
    focus = InteractiveSegmenter(model, device="cpu", input_size=64, click_focus=0.05)
    for s in (plain, focus):
        s.set_image(img)
    free = plain.predict(clicks, prev_mask=prev).mask
    focused = focus.predict(clicks, prev_mask=prev).mask
    changed = free != prev
    assert changed.any()  # the untrained network changes many pixels
    assert np.array_equal(focused[~changed], prev[~changed])
    assert (focused != prev).sum() < changed.sum()  # changes away from the newest click reverted
    assert np.array_equal(focus.predict(clicks[:1], prev_mask=prev).mask, plain.predict(clicks[:1], prev_mask=prev).mask)
    with pytest.raises(ValueError, match="click_focus must be a positive"):
        InteractiveSegmenter(model, click_focus=0, device="cpu")


def test_local_correction_changes_only_near_the_clicks(model, rng):
    """local_radius: a correction (``local=True``) of a previous mask changes only the disks around
    the inputs; without ``local`` (or without the option) the network's whole answer stands."""
    from ivos_core.interactive.methods import correction_kwargs

    img = rng.integers(0, 256, size=(60, 80, 3), dtype=np.uint8)
    prev = np.zeros((60, 80), bool)
    prev[10:50, 10:70] = True
    seg = InteractiveSegmenter(model, local_radius=0.1, keep_clicked=True, device="cpu")  # 10 px
    seg.set_image(img)
    click = [Click(x=40, y=30, positive=False)]
    free = seg.predict(click, prev_mask=prev)
    local = seg.predict(click, prev_mask=prev, local=True)
    yy, xx = np.mgrid[0:60, 0:80]
    far = (xx - 40) ** 2 + (yy - 30) ** 2 > 10 ** 2
    assert np.array_equal(local.mask[far], prev[far])
    assert not local.mask[30, 40]  # the clamped negative click itself still applies
    assert not np.array_equal(free.mask[far], prev[far])  # the untrained network changes far pixels
    assert correction_kwargs(seg) == {"keep_clicked": False, "local": True}
    assert correction_kwargs(object()) == {}
    with pytest.raises(ValueError, match="local_radius must be a positive"):
        InteractiveSegmenter(model, local_radius=-1, device="cpu")


def test_build_method_passes_further_segmenter_options_by_name():
    import typer

    from flows.cli_common import segmenter_options as _key_values
    from ivos_core.interactive.methods import build_method

    m = build_method("ours", crf=True, options={"grabcut_iterations": 5, "threshold": 0.4}, device="cpu")
    assert m.segmenter.grabcut_iterations == 5 and m.segmenter.threshold == 0.4
    assert m.name.endswith("+crf+grabcut_iterations=5+threshold=0.4")
    with pytest.raises(ValueError, match="unknown segmenter options"):
        build_method("ours", options={"nonsense": 1}, device="cpu")
    assert _key_values(["grabcut_iterations=5", "crf_mode=full", "threshold=0.4"]) == {
        "grabcut_iterations": 5, "crf_mode": "full", "threshold": 0.4}
    with pytest.raises(typer.BadParameter, match="KEY=VALUE"):
        _key_values(["grabcut_iterations"])
    with pytest.raises(typer.BadParameter, match="unknown segmenter option"):
        _key_values(["nonsense=1"])
