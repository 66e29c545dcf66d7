"""Job outputs: palette PNG masks, RLE, animated stickers with alpha, overlay previews."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageSequence

from ivos_core.export import (
    davis_palette,
    read_mask_png,
    rle_decode,
    rle_encode,
    union_bbox,
    webp_supported,
    write_mask_png,
    write_overlay_preview,
    write_sticker,
)


def _video(n=5, h=40, w=56):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (n, h, w, 3), dtype=np.uint8)
    masks = np.zeros((n, h, w), bool)
    for t in range(n):
        masks[t, 10 + t : 22 + t, 12 + 2 * t : 30 + 2 * t] = True
    return frames, masks


def test_png_mask_round_trip_with_davis_palette(tmp_path):
    _, masks = _video()
    p = write_mask_png(tmp_path / "00000.png", masks[0])
    back = read_mask_png(p)
    assert back.dtype == np.uint8 and set(np.unique(back)) == {0, 1}
    assert np.array_equal(back.astype(bool), masks[0])
    with Image.open(p) as im:
        assert im.mode == "P"
        assert im.getpalette()[3:6] == [128, 0, 0]  # DAVIS object 1 is dark red
    assert davis_palette()[:6] == [0, 0, 0, 128, 0, 0]
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary left behind


@pytest.mark.parametrize("kind", ["random", "empty", "full", "starts_fg"])
def test_rle_round_trip(kind):
    rng = np.random.default_rng(1)
    m = rng.random((13, 17)) > 0.6
    if kind == "empty":
        m[:] = False
    elif kind == "full":
        m[:] = True
    elif kind == "starts_fg":
        m[0, 0] = True
    rle = rle_encode(m)
    assert rle["size"] == [13, 17] and sum(rle["counts"]) == 13 * 17
    assert np.array_equal(rle_decode(rle), m)


def test_rle_is_column_major_coco_style():
    m = np.array([[0, 1], [0, 1], [1, 0]], bool)  # column-major: 0 0 1 1 1 0
    assert rle_encode(m)["counts"] == [2, 3, 1]
    assert rle_encode(np.ones((2, 2), bool))["counts"] == [0, 4]


def test_apng_frames_and_alpha_outside_mask(tmp_path):
    frames, masks = _video()
    paths = write_sticker(tmp_path / "sticker", frames, masks, fps=10)
    y0, y1, x0, x1 = union_bbox(masks)
    with Image.open(paths["apng"]) as im:
        assert getattr(im, "n_frames", 1) == len(frames)
        for t, fr in enumerate(ImageSequence.Iterator(im)):
            a = np.asarray(fr.convert("RGBA"))[..., 3]
            assert a.shape == (y1 - y0, x1 - x0)  # cropped to the union bbox
            crop = masks[t, y0:y1, x0:x1]
            assert (a[~crop] == 0).all() and (a[crop] == 255).all()
    with Image.open(paths["gif"]) as im:
        assert im.n_frames == len(frames)
        assert im.info.get("transparency") is not None
        first = np.asarray(im.convert("RGBA"))[..., 3]
        assert (first[~masks[0, y0:y1, x0:x1]] == 0).all()
    if webp_supported():
        with Image.open(paths["webp"]) as im:
            assert getattr(im, "n_frames", 1) == len(frames)


def test_overlay_preview(tmp_path):
    frames, masks = _video()
    p = write_overlay_preview(tmp_path / "overlay.gif", frames, masks)
    with Image.open(p) as im:
        assert im.n_frames == len(frames)
    p2 = write_overlay_preview(tmp_path / "overlay.mp4", frames, masks)
    assert p2.exists() and p2.stat().st_size > 0 and p2.suffix in (".mp4", ".gif")
