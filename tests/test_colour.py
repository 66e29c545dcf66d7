"""The colour cue: histogram log-odds, the clicked-component filter, and their effect in the segmenter."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from ivos_core.interactions import Click
from ivos_core.interactive.colour import colour_index, colour_log_odds, keep_clicked_components
from ivos_core.interactive.segmenter import InteractiveSegmenter


def _two_colour_image(h: int = 200, w: int = 240) -> tuple[np.ndarray, np.ndarray]:
    """A red rectangle on a blue background (with a little noise), and the rectangle's mask."""
    rng = np.random.default_rng(0)
    img = np.zeros((h, w, 3), np.uint8)
    img[...] = (30, 40, 200)
    obj = np.zeros((h, w), bool)
    obj[50:150, 40:200] = True
    img[obj] = (210, 40, 30)
    noise = rng.integers(-3, 4, size=img.shape)
    return np.clip(img.astype(int) + noise, 0, 255).astype(np.uint8), obj


def test_colour_index_bins_and_errors():
    img = np.array([[[0, 0, 0], [255, 255, 255], [16, 0, 0]]], np.uint8)
    idx = colour_index(img, bins=16)
    assert idx.shape == (1, 3) and idx.dtype == np.int32
    assert idx[0, 0] == 0 and idx[0, 1] == 16**3 - 1 and idx[0, 2] == 16 * 16
    with pytest.raises(ValueError, match="uint8 RGB"):
        colour_index(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="bins"):
        colour_index(np.zeros((4, 4, 3), np.uint8), bins=1)


def test_log_odds_favour_the_seeded_colour_everywhere():
    img, obj = _two_colour_image()
    seeds = np.zeros(obj.shape, np.float32)
    seeds[50:150, 40:120] = 1.0  # the network marked only the left half of the red rectangle
    llr = colour_log_odds(colour_index(img), seeds)
    assert llr.shape == obj.shape and llr.dtype == np.float32
    # every red pixel, even far from the patch, now leans foreground; blue leans background
    assert llr[obj].min() > 0.5
    assert llr[~obj].max() < -0.5
    assert np.abs(llr).max() <= 6.0  # clipped
    with pytest.raises(ValueError, match="differ"):
        colour_log_odds(colour_index(img), seeds[:-1])


def test_keep_clicked_components():
    m = np.zeros((20, 30), bool)
    m[2:6, 2:6] = True
    m[10:15, 20:28] = True
    kept = keep_clicked_components(m, [(3, 3)])
    assert kept[2:6, 2:6].all() and not kept[10:15, 20:28].any()
    assert (keep_clicked_components(m, []) == m).all()  # nothing to anchor on: unchanged
    assert (keep_clicked_components(m, [(29, 0)]) == m).all()  # the click is outside the mask


class _HalfObject(nn.Module):
    """A stand-in for a weak network: confident on the left half of the object only."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.full_like(x[:, :1], -4.0)
        logits[:, :, 50:150, 40:120] = 4.0
        return logits


def test_colour_cue_grows_a_partial_mask_to_the_object_and_drops_stray_components():
    img, obj = _two_colour_image()
    stray = np.zeros_like(obj)
    stray[5:25, 5:25] = True  # a red patch far from the object, not clicked
    img[stray] = (210, 40, 30)
    obj_iou = lambda m: (m & obj).sum() / (m | obj).sum()  # noqa: E731
    click = [Click(x=80, y=100)]

    plain = InteractiveSegmenter(_HalfObject(), device="cpu", input_size=None, encoding="gaussian")
    plain.set_image(img)
    blob = plain.predict(click).mask
    assert obj_iou(blob) < 0.55  # the stand-in network alone marks half the object

    coloured = InteractiveSegmenter(_HalfObject(), device="cpu", input_size=None, encoding="gaussian",
                                    colour_weight=4.0)
    coloured.set_image(img)
    grown = coloured.predict(click).mask
    assert grown[stray].all()  # the global colour model switches on the far red patch...
    assert obj_iou(grown & ~stray) > 0.9  # ...and the whole object

    filtered = InteractiveSegmenter(_HalfObject(), device="cpu", input_size=None, encoding="gaussian",
                                    colour_weight=4.0, keep_clicked=True)
    filtered.set_image(img)
    pred = filtered.predict(click)
    assert not pred.mask[stray].any() and (pred.prob[stray] == 0).all()
    assert obj_iou(pred.mask) > 0.9


def test_colour_weight_is_validated():
    with pytest.raises(ValueError, match="colour_weight"):
        InteractiveSegmenter(_HalfObject(), device="cpu", encoding="gaussian", colour_weight=-1.0)


def test_keep_clicked_can_be_switched_off_per_call():
    """Correcting a propagated mask: its unclicked parts are the object, so no component filter."""
    img, obj = _two_colour_image()
    img[5:25, 5:25] = (210, 40, 30)
    seg = InteractiveSegmenter(_HalfObject(), device="cpu", input_size=None, encoding="gaussian",
                               colour_weight=4.0, keep_clicked=True)
    seg.set_image(img)
    click = [Click(x=80, y=100)]
    assert not seg.predict(click).mask[5:25, 5:25].any()
    assert seg.predict(click, keep_clicked=False).mask[5:25, 5:25].all()
